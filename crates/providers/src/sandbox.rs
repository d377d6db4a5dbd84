//! The sandbox provider: the default for a new install and for tests. It sends nothing,
//! keeps the rendered text, and answers "sent" after a simulated latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::{Accepted, OutboundMessage, Provider, ProviderError};

pub struct Sandbox {
    latency: Duration,
    counter: AtomicU64,
}

impl Sandbox {
    pub fn new(latency: Duration) -> Self {
        Sandbox {
            latency,
            counter: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Provider for Sandbox {
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, ProviderError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        // Only Meta addresses a user by business-scoped user ID; the sandbox stands in for
        // any provider, so it refuses what Twilio would (docs/providers.md, BSUID).
        if message.to.trim().trim_start_matches('+').is_empty() {
            return Err(ProviderError::local(
                crate::ErrorClass::Permanent,
                "no_phone",
                "the sandbox sends to phone numbers; this recipient has none (only Meta senders reach a BSUID)",
                None,
            ));
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        Ok(Accepted {
            recorded_text: Some(message.rendered.text.clone()),
            ..Accepted::new(format!("sandbox.{}.{n}", message.callback_data))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pregon_domain::template::Rendered;

    #[tokio::test]
    async fn records_the_text_and_answers_with_unique_ids() {
        let s = Sandbox::new(Duration::ZERO);
        let msg = OutboundMessage {
            to: "+584121234567".into(),
            from: "+15555550100".into(),
            template_name: "t".into(),
            language: "es".into(),
            rendered: Rendered {
                text: "Hola Ana".into(),
                body_parameters: vec!["Ana".into()],
                header_image: None,
            },
            callback_data: "42".into(),
            content_sid: None,
            status_callback: None,
            recipient_user_id: None,
            category: None,
            expires_at: None,
            body_parameter_names: None,
        };
        let a = s.send(&msg).await.unwrap();
        let b = s.send(&msg).await.unwrap();
        assert_eq!(a.recorded_text.as_deref(), Some("Hola Ana"));
        assert_ne!(a.provider_message_id, b.provider_message_id);

        let mut to_user = msg;
        to_user.to = String::new();
        to_user.recipient_user_id = Some(pregon_domain::BusinessUserId::parse("VE.55").unwrap());
        let e = s.send(&to_user).await.unwrap_err();
        assert_eq!((e.class(), e.code()), (crate::ErrorClass::Permanent, "no_phone"));
    }
}
