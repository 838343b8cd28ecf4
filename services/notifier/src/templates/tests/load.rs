//! The checks a template file passes at load, and how a mistake is named.

use super::*;

const GOOD: &str = r#"
kind = "personal"
useful_for_hours = 72
[sms]
text = "【鸿雁】{member_name}同志：请在{month}内更新。"
template_param_names = ["member_name", "month"]
"#;

fn parse(source: &str) -> Result<Template, TemplateError> {
    Template::parse("sample", "config/templates/sample.toml", source)
}

fn invalid_field(source: &str) -> (String, String) {
    match parse(source) {
        Err(e @ TemplateError::Invalid { .. }) => {
            let TemplateError::Invalid { field, .. } = &e else {
                unreachable!()
            };
            assert!(
                e.to_string().starts_with("config/templates/sample.toml: "),
                "{e}"
            );
            (field.clone(), e.to_string())
        }
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn a_good_file_parses() {
    let t = parse(GOOD).unwrap();
    assert_eq!(t.name(), "sample");
    assert_eq!(t.sms_param_names(), ["member_name", "month"]);
    assert!(!t.has_robot());
}

#[test]
fn mistakes_are_named_by_file_and_field() {
    let unknown = GOOD.replace("{month}", "{mnoth}");
    let (field, msg) = invalid_field(&unknown);
    assert_eq!(field, "sms.text");
    assert!(msg.contains("`{mnoth}`"), "{msg}");

    let unlisted = GOOD.replace(r#", "month"]"#, "]");
    assert_eq!(invalid_field(&unlisted).0, "sms.template_param_names");

    let extra = GOOD.replace(r#""month"]"#, r#""month", "url"]"#);
    assert_eq!(invalid_field(&extra).0, "sms.template_param_names");

    let robot = format!("{GOOD}[robot]\ntitle = \"t\"\nmarkdown = \"m\"\n");
    let (field, msg) = invalid_field(&robot);
    assert_eq!(field, "robot");
    assert!(msg.contains("broadcasts only"), "{msg}");

    let broadcast = GOOD.replace("personal", "broadcast");
    assert_eq!(invalid_field(&broadcast).0, "robot");

    let no_sms = "kind = \"personal\"\nuseful_for_hours = 1\n";
    assert_eq!(invalid_field(no_sms).0, "sms");

    let zero = GOOD.replace("72", "0");
    assert_eq!(invalid_field(&zero).0, "useful_for_hours");

    let long = GOOD.replace("请在", &"很长".repeat(260));
    let (field, msg) = invalid_field(&long);
    assert_eq!(field, "sms.text");
    assert!(msg.contains("500"), "{msg}");

    let markdown = format!(
        "kind = \"broadcast\"\nuseful_for_hours = 1\n[sms]\ntext = \"x\"\n\
         template_param_names = []\n[robot]\ntitle = \"t\"\nmarkdown = \"{}\"\n",
        "字".repeat(1400)
    );
    assert_eq!(invalid_field(&markdown).0, "robot.markdown");

    let stray_default = format!("{GOOD}[defaults]\nurl = \"x\"\n");
    assert_eq!(invalid_field(&stray_default).0, "defaults.url");

    let brace = GOOD.replace("更新。", "更新}");
    assert_eq!(invalid_field(&brace).0, "sms.text");
}

#[test]
fn toml_mistakes_name_the_file_and_key() {
    let typo = GOOD.replace("useful_for_hours", "useful_hours");
    let err = parse(&typo).unwrap_err().to_string();
    assert!(
        err.starts_with("config/templates/sample.toml is not a valid"),
        "{err}"
    );
    assert!(err.contains("useful_hours"), "{err}");
    let kind = GOOD.replace("\"personal\"", "\"group\"");
    assert!(parse(&kind).unwrap_err().to_string().contains("kind"));
}

#[test]
fn a_directory_missing_a_template_is_refused() {
    let err = Templates::load(&dir().join("does-not-exist")).unwrap_err();
    assert!(err.to_string().contains("does-not-exist"), "{err}");
    let err = Templates::load(&dir().join("..")).unwrap_err();
    // config/ itself holds default.toml, which is not a template.
    assert!(err.to_string().contains("default.toml"), "{err}");

    let partial = std::env::temp_dir().join(format!("hongyan-templates-{}", std::process::id()));
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("monthly_reminder.toml"), GOOD).unwrap();
    let err = Templates::load(&partial);
    std::fs::remove_dir_all(&partial).unwrap();
    let err = err.unwrap_err().to_string();
    assert!(
        err.contains("lacks templates") && err.contains("study_pack"),
        "{err}"
    );
    assert!(!err.contains("monthly_reminder"), "{err}");
}
