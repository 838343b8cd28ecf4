//! Names for one benchmark run: a database, an AMQP prefix and a Redis prefix of their own, so a
//! run never touches production names or another run's data.

use hongyan_adapters::Settings;

/// The run's id (`hybench_…`, also its database's name) and the default settings pointed at it.
pub fn settings() -> anyhow::Result<(String, Settings)> {
    let id = format!(
        "hybench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut s = Settings::load(&dir)?;
    s.amqp.prefix = format!("{id}.");
    s.redis.prefix = format!("{id}:");
    s.database.url = format!("postgres://postgres@127.0.0.1:5432/{id}");
    Ok((id, s))
}
