//! Mail to a workspace's own people, not to respondents: the invitation to join and the link to
//! set a new password. Sent at once, within the request, through the context's staff mailer
//! (the outbox locally, SES on AWS), with no unsubscribe (it is not marketing).

use crate::Context;
use crate::domain::Email;
use crate::domain::tenant::Tenant;
use crate::domain::texts::escape_html as escape;
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::messaging::OutgoingEmail;

/// Sends one message: its paragraphs, then a button to `link` labelled `action`.
async fn send(
    ctx: &Context,
    tenant: &Tenant,
    to: &Email,
    subject: &str,
    paragraphs: &[String],
    action: &str,
    link: &str,
) -> Result<()> {
    let text = format!("{}\n\n{action}: {link}\n", paragraphs.join("\n\n"));
    let body: String = paragraphs.iter().map(|p| format!("<p>{}</p>", escape(p))).collect();
    let html = format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#1f2328;max-width:36rem\">{body}\
         <p><a href=\"{link}\" style=\"display:inline-block;background:#1d4ed8;color:#ffffff;padding:10px 16px;\
         border-radius:6px;text-decoration:none;font-weight:600\">{action}</a></p>\
         <p style=\"color:#57606a;font-size:14px\">Or open this address: {link}</p></body></html>",
        link = escape(link),
        action = escape(action),
    );
    let email = OutgoingEmail {
        idempotency_key: new_id(),
        from_name: format!("{} via Ovation", tenant.settings.display_name),
        from_address: ctx.settings.sending.mail_from.clone(),
        reply_to: None,
        to: to.as_str().to_owned(),
        subject: subject.to_owned(),
        html,
        text,
        unsubscribe_url: None,
        unsubscribe_mailto: None,
        tags: vec![("tenant".to_owned(), tenant.id.to_string())],
    };
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
    let subject = format!("Join {workspace} in Ovation");
    send(ctx, tenant, to, &subject, &paragraphs, "Accept the invitation", link).await
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
    send(
        ctx,
        tenant,
        to,
        "Set a new password for Ovation",
        &paragraphs,
        "Set a new password",
        link,
    )
    .await
}
