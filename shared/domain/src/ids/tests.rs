use super::*;

#[test]
fn phone_accepts_mainland_mobiles_and_strips_the_country_code() {
    assert_eq!(
        Phone::parse("+8613912345678").unwrap().as_str(),
        "13912345678"
    );
    assert_eq!(Phone::parse("19900001111").unwrap().masked(), "199****1111");
    for bad in [
        "12912345678",
        "1391234567",
        "139123456789",
        "1391234567a",
        "",
        "+85213912345678",
    ] {
        assert!(Phone::parse(bad).is_err(), "{bad} should be rejected");
    }
}

#[test]
fn masking_a_short_or_odd_phone_never_panics() {
    for odd in ["12", "", "1234567", "张三李四王五赵六钱七孙八"] {
        let masked = Phone(odd.to_owned()).masked();
        assert!(masked.contains("****"), "{odd} -> {masked}");
    }
    assert_eq!(Phone("12".to_owned()).masked(), "****");
}

#[test]
fn newtypes_deserialize_through_parse_only() {
    let err = serde_json::from_str::<Phone>(r#""12""#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a mainland mobile"), "{err}");
    assert!(serde_json::from_str::<OrgId>(r#""张三""#).is_err());
    assert!(serde_json::from_str::<MemberId>(r#""""#).is_err());
    assert!(serde_json::from_str::<RegionCode>(r#""5226""#).is_err());
    assert!(serde_json::from_str::<CertificateNo>(r#""1""#).is_err());
    let p: Phone = serde_json::from_str(r#""+8613912345678""#).unwrap();
    assert_eq!(serde_json::to_string(&p).unwrap(), r#""13912345678""#);
}

#[test]
fn a_rejected_phone_is_masked_in_the_message() {
    let err = Phone::parse("2391234567899").unwrap_err().to_string();
    assert!(!err.contains("2391234567899"), "{err}");
    assert!(err.contains("239****7899"), "{err}");
}

#[test]
fn phones_in_free_text_are_masked_and_other_numbers_are_not() {
    let s = mask_phones_in_text(r#"{"phone":"13900001111","region":"440106001","n":139000011112}"#);
    assert_eq!(
        s,
        r#"{"phone":"139****1111","region":"440106001","n":139000011112}"#
    );
}

#[test]
fn phones_are_masked_with_or_without_the_country_code_and_inside_escapes() {
    // Aliyun's SignatureDoesNotMatch echoes the string to sign, percent-encoded.
    let aliyun = "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3Dak%26PhoneNumbers%3D13900001111%252C%252B8613900002222%26Extra%3D%2013900003333";
    let masked = mask_phones(aliyun);
    for whole in ["13900001111", "13900002222", "13900003333"] {
        assert!(!masked.contains(whole), "{masked}");
    }
    assert!(masked.contains("%3D139****1111"), "{masked}");
    // A value encoded twice: TemplateParam's `"receiving_phone":"13900006666"`.
    let twice = "receiving_phone%2522%253A%252213900006666%2522%252C%2520%252013900007777";
    assert_eq!(
        mask_phones(twice),
        "receiving_phone%2522%253A%2522139****6666%2522%252C%2520%2520139****7777"
    );
    assert_eq!(mask_phones("%2513900008888"), "%25139****8888");
    // Tencent echoes numbers in E.164.
    let tencent = r#"{"Response":{"Error":{"Code":"InvalidParameterValue.IncorrectPhoneNumber","Message":"+8613900004444 and 8613900005555 are wrong"}}}"#;
    assert_eq!(
        mask_phones(tencent),
        r#"{"Response":{"Error":{"Code":"InvalidParameterValue.IncorrectPhoneNumber","Message":"+86139****4444 and 86139****5555 are wrong"}}}"#
    );
    assert_eq!(mask_phones("522627202600012 86"), "522627202600012 86");
}

#[test]
fn region_codes_have_six_nine_or_twelve_digits() {
    let village = RegionCode::parse("522627100201").unwrap();
    assert_eq!(village.county(), "522627");
    assert_eq!(village.city(), "522600");
    assert_eq!(village.province(), "520000");
    for bad in ["52262", "5226271", "52262710020a", "5226271002011"] {
        assert!(RegionCode::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn ids_allow_a_small_alphabet() {
    assert!(OrgId::parse("gz-qx-xz-c01").is_ok());
    assert!(MemberId::parse("m_0001.a").is_ok());
    assert!(MemberId::parse("").is_err());
    assert!(MemberId::parse("张三").is_err());
    assert!(MemberId::parse(&"a".repeat(65)).is_err());
}

#[test]
fn certificate_numbers_compose_county_year_and_sequence() {
    assert_eq!(
        CertificateNo::compose("522627", 2026, 12).as_str(),
        "522627202600012"
    );
    assert!(CertificateNo::parse("522627202600012").is_ok());
    assert!(CertificateNo::parse("52262720260001").is_err());
}

#[test]
fn word_enums_list_the_allowed_words() {
    let err = EmployerType::parse("startup").unwrap_err().to_string();
    assert!(
        err.contains("state_owned") && err.contains("self_employed"),
        "{err}"
    );
    assert_eq!(OrgKind::parse("flow_branch"), Ok(OrgKind::FlowBranch));
}

#[test]
fn each_newtype_names_itself_in_its_error() {
    assert_eq!(MemberId::parse("张三"), Err(IdError::Id("张三".into())));
    assert_eq!(
        RegionCode::parse("5226"),
        Err(IdError::RegionCode("5226".into()))
    );
    assert_eq!(
        CertificateNo::parse("1"),
        Err(IdError::CertificateNo("1".into()))
    );
    assert_eq!(
        OrgKind::parse("team"),
        Err(WordError {
            input: "team".into(),
            allowed: OrgKind::WORDS
        })
    );
    // A phone's error holds the text masked only, so even its Debug shows no number.
    let err = Phone::parse("2391234567899").unwrap_err();
    assert_eq!(
        err,
        IdError::Phone {
            masked: "\"239****7899\"".into()
        }
    );
    assert!(!format!("{err:?}").contains("2391234567899"), "{err:?}");
}

#[test]
fn a_bad_event_id_keeps_uuids_error_as_its_source() {
    use std::error::Error as _;
    let err = EventId::parse("not-a-uuid").unwrap_err();
    assert!(matches!(err, IdError::EventId { ref input, .. } if input == "not-a-uuid"));
    assert_eq!(
        err.to_string(),
        "\"not-a-uuid\" is not a UUID: send the event's id as a UUID string"
    );
    let source = err.source().expect("uuid's error is the source");
    assert_eq!(
        source.to_string(),
        uuid::Uuid::parse_str("not-a-uuid").unwrap_err().to_string()
    );
    // The id newtypes' serde path reports the same sentence.
    let serde_err = serde_json::from_str::<OrgId>(r#""张三""#).unwrap_err();
    assert!(
        serde_err.to_string().contains("is not an id"),
        "{serde_err}"
    );
}
