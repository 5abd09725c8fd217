//! Mail to a workspace's own people, not to respondents: the invitation to join and the link to
//! set a new password, sent at once within the request through the context's staff mailer (the
//! outbox locally, SES on AWS) with no unsubscribe; and the layout their notifications share
//! (`compose`), which carry a link that stops them.

use crate::Context;
use crate::domain::Email;
use crate::domain::tenant::Tenant;
use crate::domain::texts::escape_html as escape;
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::messaging::OutgoingEmail;

/// A mail to one of the workspace's people: its paragraphs, then a button to `link` labelled
/// `action`, and for a notification why it came with the link that stops it.
pub struct StaffMessage<'a> {
    pub subject: String,
    pub paragraphs: Vec<String>,
    pub action: &'a str,
    pub link: String,
    /// Why this mail came, and the one-click link that stops such mails.
    pub stop: Option<(String, String)>,
}

/// The mail as sent: HTML and text from the same paragraphs; a notification carries its stop
/// link as `List-Unsubscribe` too (one click, RFC 8058).
pub fn compose(ctx: &Context, tenant: &Tenant, to: &str, idempotency_key: String, m: &StaffMessage) -> OutgoingEmail {
    let (link, action) = (escape(&m.link), escape(m.action));
    let mut text = format!("{}\n\n{}: {}\n", m.paragraphs.join("\n\n"), m.action, m.link);
    let body: String = m.paragraphs.iter().map(|p| format!("<p>{}</p>", escape(p))).collect();
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#1f2328;max-width:36rem\">{body}\
         <p><a href=\"{link}\" style=\"display:inline-block;background:#1d4ed8;color:#ffffff;padding:10px 16px;\
         border-radius:6px;text-decoration:none;font-weight:600\">{action}</a></p>\
         <p style=\"color:#57606a;font-size:14px\">Or open this address: {link}</p>"
    );
    if let Some((why, stop)) = &m.stop {
        text.push_str(&format!("\n{why} Stop these mails: {stop}\n"));
        html.push_str(&format!(
            "<p style=\"color:#57606a;font-size:14px\">{} <a href=\"{}\" style=\"color:#1d4ed8\">Stop these mails</a></p>",
            escape(why),
            escape(stop)
        ));
    }
    html.push_str("</body></html>");
    OutgoingEmail {
        idempotency_key,
        from_name: format!("{} via Ovation", tenant.settings.display_name),
        from_address: ctx.settings.sending.mail_from.clone(),
        reply_to: None,
        to: to.to_owned(),
        subject: m.subject.clone(),
        html,
        text,
        unsubscribe_url: m.stop.as_ref().map(|(_, stop)| stop.clone()),
        unsubscribe_mailto: None,
        tags: vec![("tenant".to_owned(), tenant.id.to_string())],
    }
}

/// Sends one message at once through the staff mailer.
async fn send(ctx: &Context, tenant: &Tenant, to: &Email, m: StaffMessage<'_>) -> Result<()> {
    let email = compose(ctx, tenant, to.as_str(), new_id(), &m);
    ctx.staff_mailer()
        .await?
        .send(&email)
        .await
        .map(drop)
        .map_err(|e| Error::Unavailable {
            service: "mail",
            reason: e.to_string(),
        })
}

/// The invitation to join `tenant`, with the link that accepts it.
pub async fn invitation(ctx: &Context, tenant: &Tenant, to: &Email, link: &str, days: i64) -> Result<()> {
    let workspace = &tenant.settings.display_name;
    let paragraphs = [
        format!("You are invited to join {workspace} in Ovation, where its team reads and acts on what customers say."),
        format!("Choose a password to accept. The link works once, for {days} days."),
    ];
    let message = StaffMessage {
        subject: format!("Join {workspace} in Ovation"),
        paragraphs: paragraphs.to_vec(),
        action: "Accept the invitation",
        link: link.to_owned(),
        stop: None,
    };
    send(ctx, tenant, to, message).await
}

/// The link to set a new password for `tenant`.
pub async fn password_reset(ctx: &Context, tenant: &Tenant, to: &Email, link: &str) -> Result<()> {
    let paragraphs = [
        format!(
            "Someone asked to set a new password for your account in {} in Ovation.",
            tenant.settings.display_name
        ),
        "The link works once, for one hour. If it was not you, ignore this mail: your password stays as it is."
            .to_owned(),
    ];
    let message = StaffMessage {
        subject: "Set a new password for Ovation".to_owned(),
        paragraphs: paragraphs.to_vec(),
        action: "Set a new password",
        link: link.to_owned(),
        stop: None,
    };
    send(ctx, tenant, to, message).await
}
