//! EC2's query API, the part that needs no AWS SDK: form bodies
//! percent-encoded, and the text of an element of the XML answers, which
//! come from a server and are read without trusting them.

/// Percent-encodes `text` for a form body (unreserved characters stay).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The text of the first `<name>` element of `xml`, unescaped.
pub fn field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields_and_form_encoding() {
        let xml = "<R><imageId>ami-1</imageId><Message>a &amp; &lt;b&gt;</Message></R>";
        assert_eq!(field(xml, "imageId").as_deref(), Some("ami-1"));
        assert_eq!(field(xml, "Message").as_deref(), Some("a & <b>"));
        assert_eq!(field(xml, "Code"), None);
        assert_eq!(field("<Code>unclosed", "Code"), None);
        assert_eq!(encode("a b/c=d~"), "a%20b%2Fc%3Dd~");
    }

    proptest! {
        #[test]
        fn any_answer_gives_a_field_or_none(xml in "(<[a-zA-Z/]{0,8}>|&[a-z]{0,5};|[ -~]|\\PC){0,60}", name in "[a-zA-Z]{1,8}") {
            let _ = field(&xml, &name);
        }

        #[test]
        fn an_element_gives_back_its_text(before in "[^<]{0,20}", text in "[^<&]{0,20}", after in "\\PC{0,20}") {
            let xml = format!("{before}<status>{text}</status>{after}");
            prop_assert_eq!(field(&xml, "status"), Some(text));
        }

        #[test]
        fn encoded_text_decodes_back(text in "\\PC{0,40}") {
            let encoded = encode(&text);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
            let mut bytes = Vec::new();
            let mut rest = encoded.as_bytes();
            while let Some((&b, tail)) = rest.split_first() {
                if b == b'%' {
                    let hex = std::str::from_utf8(&tail[..2]).unwrap();
                    bytes.push(u8::from_str_radix(hex, 16).unwrap());
                    rest = &tail[2..];
                } else {
                    bytes.push(b);
                    rest = tail;
                }
            }
            prop_assert_eq!(String::from_utf8(bytes).unwrap(), text);
        }
    }
}
