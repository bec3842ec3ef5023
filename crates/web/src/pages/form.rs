//! Form bodies (`application/x-www-form-urlencoded`), with repeated fields such as checkboxes.

/// The fields of a posted form, in order.
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> FormData {
        FormData(url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// The first value of a field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a field (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_are_all_kept() {
        let form = FormData::parse(b"roles=admin&roles=analyst&name=a+b%21");
        assert_eq!(form.all("roles"), ["admin", "analyst"]);
        assert_eq!(form.get("name"), Some("a b!"));
        assert_eq!(form.get("missing"), None);
    }
}
