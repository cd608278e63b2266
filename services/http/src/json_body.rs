//! A small JSON object body, read field by field, so that every refusal
//! names its field: a wrong type or a bad value is a 422 naming it, an
//! unknown field too (a typo such as `postcode` must not be ignored), and
//! a body that is not a JSON object is a 400.

use crate::error::{ApiError, FieldErrorBody};
use masthead_domain::country::Country;
use masthead_domain::subscription::text::checked_line;
use masthead_domain::subscription::FieldError;
use serde_json::{Map, Value};
use uuid::Uuid;

pub struct JsonObject {
    fields: Map<String, Value>,
    /// The fields a handler asked for; any other is refused by `finish`.
    known: Vec<&'static str>,
    errors: Vec<FieldError>,
}

impl JsonObject {
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}")))?;
        match value {
            Value::Object(fields) => Ok(Self { fields, known: Vec::new(), errors: Vec::new() }),
            _ => Err(ApiError::bad_request("invalid_json", "the body must be a JSON object")),
        }
    }

    fn take(&mut self, field: &'static str) -> Option<Value> {
        self.known.push(field);
        match self.fields.get(field) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.clone()),
        }
    }

    fn refuse(&mut self, field: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError { field, message: message.into() });
    }

    /// A text line of at most `max` characters, under the intake's line
    /// rules (no control, bidi or invisible-only text); `None` if absent.
    pub fn text(&mut self, field: &'static str, max: usize) -> Option<String> {
        match self.take(field)? {
            Value::String(s) => match checked_line(field, &s, max) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.errors.push(e);
                    None
                }
            },
            _ => {
                self.refuse(field, "must be a string");
                None
            }
        }
    }

    /// A text line that may also be cleared: `None` if absent, `Some(None)`
    /// for `null` or an empty string (what a cleared form field sends),
    /// otherwise as [`text`](Self::text).
    pub fn clearable_text(&mut self, field: &'static str, max: usize) -> Option<Option<String>> {
        match self.fields.get(field) {
            None => {
                self.known.push(field);
                None
            }
            Some(Value::Null) => {
                self.known.push(field);
                Some(None)
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.known.push(field);
                Some(None)
            }
            Some(_) => self.text(field, max).map(Some),
        }
    }

    /// Refuses `null` or an empty string for `field`, which cannot be
    /// cleared (once, rather than also as a missing value).
    pub fn refuse_clearing(&mut self, field: &'static str) {
        let clears = match self.fields.get(field) {
            Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            _ => false,
        };
        if clears {
            self.known.push(field);
            self.fields.remove(field);
            self.refuse(field, "cannot be cleared");
        }
    }

    /// Like [`text`](Self::text), and refused when absent.
    pub fn required_text(&mut self, field: &'static str, max: usize) -> Option<String> {
        let present = self.fields.get(field).is_some_and(|v| !v.is_null());
        let v = self.text(field, max);
        if !present {
            self.refuse(field, "is required");
        }
        v
    }

    pub fn country(&mut self, field: &'static str) -> Option<Country> {
        let typed = self.text(field, 60)?;
        match Country::parse(&typed) {
            Ok(c) => Some(c),
            Err(e) => {
                self.refuse(field, format!("{e}: use the ISO code or the English name"));
                None
            }
        }
    }

    pub fn uuid(&mut self, field: &'static str) -> Option<Uuid> {
        let raw = self.text(field, 40)?;
        match Uuid::parse_str(&raw) {
            Ok(id) => Some(id),
            Err(_) => {
                self.refuse(field, "must be a UUID");
                None
            }
        }
    }

    /// Whether any field was sent (besides the ones already read).
    pub fn has(&self, field: &str) -> bool {
        self.fields.get(field).is_some_and(|v| !v.is_null())
    }

    /// Ends the reading: the errors found, and every unknown field.
    pub fn finish(self) -> Result<(), ApiError> {
        let unknown: Vec<String> = self.fields.keys().filter(|k| !self.known.contains(&k.as_str())).cloned().collect();
        if self.errors.is_empty() && unknown.is_empty() {
            return Ok(());
        }
        let mut e = ApiError::validation(self.errors);
        e.errors.extend(
            unknown.into_iter().map(|field| FieldErrorBody { field, message: "is not a field of this request".into() }),
        );
        Err(e)
    }
}
