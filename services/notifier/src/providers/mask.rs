//! Phone masking (手机号脱敏): phones never appear whole in a log line (STYLE.md, "Errors,
//! config, logs").

/// Masks a phone as `138****5678`: the first 3 and last 4 digits stay, the rest become four
/// stars whatever their number, so the length is not revealed either. A leading `+86` is kept
/// as it was. Anything shorter than 8 characters is masked entirely, since keeping 7 of them
/// would show nearly all of it.
pub fn mask_phone(phone: &str) -> String {
    let (prefix, rest) = match phone.strip_prefix("+86") {
        Some(rest) => ("+86", rest),
        None => ("", phone),
    };
    let chars: Vec<char> = rest.chars().collect();
    if chars.len() < 8 {
        return format!("{prefix}****");
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}{head}****{tail}")
}

/// Masks every mainland mobile number in free text (with or without `+86`), so a rendered
/// message or a provider's error body can be logged: the domain's one masking pass.
pub fn mask_phones_in(text: &str) -> String {
    hongyan_domain::ids::mask_phones(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_three_and_last_four_digits() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("+8613812345678"), "+86138****5678");
        assert_eq!(mask_phone("12345678"), "123****5678");
    }

    #[test]
    fn short_values_are_masked_entirely() {
        assert_eq!(mask_phone(""), "****");
        assert_eq!(mask_phone("1234567"), "****");
        assert_eq!(mask_phone("+86123"), "+86****");
    }

    #[test]
    fn masks_phones_inside_text_but_not_other_numbers() {
        assert_eq!(
            mask_phones_in("请联系 13812345678（张三），编号 2024000100020003。"),
            "请联系 138****5678（张三），编号 2024000100020003。"
        );
        assert_eq!(
            mask_phones_in("1381234567 23812345678"),
            "1381234567 23812345678"
        );
        assert_eq!(mask_phones_in("a13800001111b"), "a138****1111b");
    }
}
