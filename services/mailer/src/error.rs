//! Why a send failed, sorted by what the caller should do about it.

/// A failed attempt to hand a mail to the transport.
///
/// How a caller handles each variant:
/// - [`SendError::Transient`]: the mail may well go through later (the
///   server was unreachable, timed out, answered 4xx, or refused our
///   credentials, which is an operations problem rather than this
///   subscriber's). Retry after a back-off delay — with JetStream, *nak*
///   the message with [`crate::RetryPolicy::delay`] — until the last
///   attempt, then record `ConfirmationFailed { permanent: false }`.
/// - [`SendError::Permanent`]: the server refused this mail for good
///   (5xx, such as an unknown mailbox). Do not retry: record
///   `ConfirmationFailed { permanent: true }` at once and dead-letter.
///
/// The `reason` is safe to log and to store in events: e-mail addresses
/// that servers echo back in their replies are redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("transient mail failure: {reason}")]
    Transient { reason: String },
    #[error("permanent mail failure: {reason}")]
    Permanent { reason: String },
}

impl SendError {
    pub fn transient(reason: impl AsRef<str>) -> Self {
        SendError::Transient { reason: redact_addresses(reason.as_ref()) }
    }

    pub fn permanent(reason: impl AsRef<str>) -> Self {
        SendError::Permanent { reason: redact_addresses(reason.as_ref()) }
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent { .. })
    }

    pub fn reason(&self) -> &str {
        match self {
            SendError::Transient { reason } | SendError::Permanent { reason } => reason,
        }
    }
}

/// SMTP replies that are 5xx but say nothing about the recipient: our own
/// credentials were refused. Marking every subscriber permanently failed
/// for a bad password would be wrong, so these are retried like an outage.
const AUTH_CODES: &[u16] = &[530, 534, 535, 538];

impl From<lettre::transport::smtp::Error> for SendError {
    fn from(err: lettre::transport::smtp::Error) -> Self {
        let reason = err.to_string();
        match err.status().map(u16::from) {
            Some(code) if err.is_permanent() && !AUTH_CODES.contains(&code) => SendError::permanent(reason),
            // 4xx, auth refusals, connection refused, timeouts, TLS and
            // protocol trouble: none of it is this mail's fault.
            _ => SendError::transient(reason),
        }
    }
}

/// Replaces every word containing `@` by `<address>`. Servers echo the
/// recipient in replies (`550 5.1.1 <ann@example.org>: unknown user`), and
/// the reason ends up in logs and in the (unencrypted) event stream.
pub fn redact_addresses(text: &str) -> String {
    text.split(' ').map(|word| if word.contains('@') { "<address>" } else { word }).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_server_replies_are_redacted() {
        let e = SendError::permanent("permanent error (550): 5.1.1 <ann@example.org>: Recipient unknown");
        assert_eq!(e.reason(), "permanent error (550): 5.1.1 <address> Recipient unknown");
        assert!(!e.to_string().contains("ann@"));
    }
}
