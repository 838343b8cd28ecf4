//! `hongyan report show ID [--format json|csv]`: a stored dispatch report (DESIGN.md section 4).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context, bail};
use hongyan_adapters::{Settings, store};
use hongyan_api::report_files::{self, write_csv};
use hongyan_domain::dispatch::DispatchReport;

use crate::cli::ReportCommand;

/// How a report is printed.
enum Format {
    Json,
    Csv,
}

impl Format {
    fn parse(s: &str) -> anyhow::Result<Self> {
        match s {
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            other => bail!("--format {other:?} is not known: use json or csv"),
        }
    }
}

pub async fn run(settings: &Settings, command: ReportCommand) -> anyhow::Result<ExitCode> {
    let ReportCommand::Show { id, format } = command;
    let format = Format::parse(&format)?;
    let report_id = uuid::Uuid::parse_str(&id).with_context(|| {
        format!("report id {id:?} is not a UUID: give the report_id of a dispatch.report_ready")
    })?;
    let pool = store::pool(&settings.database)?;
    let row: Option<(serde_json::Value,)> =
        sqlx::query_as("SELECT report::jsonb FROM dispatch_reports WHERE id = $1")
            .bind(report_id)
            .fetch_optional(&pool)
            .await
            .context("reading the report failed: check database.url and that PostgreSQL runs")?;
    let Some((doc,)) = row else {
        eprintln!(
            "No dispatch report has id {report_id}: check the id in the dispatch.report_ready message."
        );
        return Ok(ExitCode::FAILURE);
    };
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?,
        Format::Csv => {
            let report: DispatchReport = serde_json::from_value(doc)
                .context("the stored report does not have the shape of DESIGN.md section 4")?;
            let names = report_files::names(&pool, &report)
                .await
                .context("reading the names the report refers to failed")?;
            write_csv(&report, &names, &mut out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
