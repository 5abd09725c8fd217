//! One step's message, rendered: the email's HTML and text parts and the SMS, in the person's
//! language, with the survey's texts and links.

use crate::config::SendingSettings;
use crate::domain::survey::SurveyDefinition;
use crate::domain::tenant::Tenant;
use crate::domain::texts::{self, escape_html};
use crate::domain::{Language, Properties};
use crate::ids::TenantId;
use crate::messaging::OutgoingEmail;
use crate::services::sending::steps::Step;
use crate::services::surveys::Survey;

pub(super) struct Links {
    pub(super) survey: String,
    pub(super) unsubscribe: String,
}

/// One step's message, before it becomes an email or an SMS.
pub(super) struct Message<'a> {
    pub(super) survey: &'a Survey,
    pub(super) tenant: &'a Tenant,
    /// The person's properties, which the survey's texts may name.
    pub(super) properties: &'a Properties,
    pub(super) language: Language,
    pub(super) step: Step,
    pub(super) links: &'a Links,
}

impl Message<'_> {
    fn question(&self) -> String {
        let t = texts::texts(self.language);
        self.survey.definition.filled(
            |o| o.question.as_ref(),
            t.question,
            self.language,
            Some(self.properties),
            &self.tenant.settings.display_name,
        )
    }

    fn sender(&self) -> String {
        self.survey.definition.sender(&self.tenant.settings.display_name)
    }

    fn subject(&self) -> String {
        match self.step {
            Step::Invite => self.question(),
            Step::Remind => format!("{}: {}", texts::texts(self.language).reminder, self.question()),
        }
    }

    /// A short text: the sender, the question and the link; without the sender when that makes
    /// it one SMS segment.
    pub(super) fn sms(&self) -> String {
        sms_text(&self.sender(), &self.question(), &self.links.survey)
    }

    pub(super) fn email(
        &self,
        sending: &SendingSettings,
        tenant: &TenantId,
        invitation: &str,
        idempotency_key: String,
        to: String,
    ) -> OutgoingEmail {
        let t = texts::texts(self.language);
        let question = self.question();
        let sender = self.sender();
        let brand = &self.survey.definition.brand_color;
        // The scores in the brand's colour where it reads on white (4.5:1), else in near-black.
        let ink = if crate::domain::brand::white_reads_on(brand) {
            brand.as_str()
        } else {
            "#18181b"
        };
        let score_url = |n: u8| format!("{}?score={n}", self.links.survey);
        let mut cells = String::new();
        // Fluid cells: the 0–10 row fits a 320 px screen in one line.
        for n in 0..=10u8 {
            cells.push_str(&format!(
                "<td align=\"center\" width=\"9%\" style=\"padding:1px\"><a href=\"{}\" \
                 style=\"display:block;padding:10px 0;border:1px solid {brand};border-radius:4px;color:{ink};\
                 font:bold 15px Arial,sans-serif;text-decoration:none\">{n}</a></td>",
                escape_html(&score_url(n))
            ));
        }
        // The preheader: what inbox lists show after the subject, hidden in the message itself.
        let preheader = format!("{} · 0 = {}, 10 = {}", t.choose_score, t.not_likely, t.very_likely);
        let html = format!(
            "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head>\
             <body style=\"margin:0;padding:0;background:#f4f4f5\">\
             <div style=\"display:none;max-height:0;overflow:hidden;opacity:0;mso-hide:all\">{preheader}</div>\
             <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"background:#f4f4f5\">\
             <tr><td align=\"center\" style=\"padding:16px 4px\">\
             <div role=\"main\" style=\"max-width:560px;margin:0 auto\">\
             <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"background:#ffffff;\
             border-radius:6px\"><tr><td style=\"padding:20px 12px;font:16px/1.5 Arial,sans-serif;color:#18181b\">\
             <h1 style=\"margin:0 0 16px;font:bold 18px/1.4 Arial,sans-serif;color:#18181b\">{question}</h1>\
             <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"table-layout:fixed\">\
             <tr>{cells}</tr></table>\
             <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"font:12px Arial,\
             sans-serif;color:#52525b;margin-top:4px\"><tr><td>0 = {low}</td><td align=\"right\">10 = {high}</td></tr></table>\
             </td></tr></table>\
             <p style=\"font:12px Arial,sans-serif;color:#52525b\">{sender} · \
             <a href=\"{unsubscribe}\" style=\"color:#52525b\">{unsubscribe_text}</a></p>\
             </div></td></tr></table></body></html>",
            lang = self.language.code(),
            title = escape_html(&question),
            preheader = escape_html(&preheader),
            question = escape_html(&question),
            low = escape_html(t.not_likely),
            high = escape_html(t.very_likely),
            sender = escape_html(&sender),
            unsubscribe = escape_html(&self.links.unsubscribe),
            unsubscribe_text = escape_html(t.unsubscribe_button),
        );
        let text = format!(
            "{question}\n\n{choose}:\n{scores}\n\n0 = {low}, 10 = {high}\n\n--\n{sender}\n{unsubscribe_text}: {unsubscribe}\n",
            choose = t.choose_score,
            scores = (0..=10u8)
                .map(|n| format!("{n}: {}", score_url(n)))
                .collect::<Vec<_>>()
                .join("\n"),
            low = t.not_likely,
            high = t.very_likely,
            unsubscribe_text = t.unsubscribe_button,
            unsubscribe = self.links.unsubscribe,
        );
        OutgoingEmail {
            idempotency_key,
            from_name: sender,
            from_address: sending.mail_from.clone(),
            reply_to: self.survey.definition.reply_to.clone(),
            to,
            subject: self.subject(),
            html,
            text,
            unsubscribe_url: Some(self.links.unsubscribe.clone()),
            unsubscribe_mailto: sending.unsubscribe_mailto.clone(),
            tags: vec![
                ("tenant".into(), tenant.to_string()),
                ("invitation".into(), invitation.to_owned()),
                ("survey".into(), self.survey.id.clone()),
                ("step".into(), self.step.as_str().into()),
            ],
        }
    }
}

/// A survey's invitation, as a person without properties would get it in `language`: the email
/// (its links leading nowhere) and the SMS (with `sms_link` for its short link), which the web
/// app previews before the survey is saved.
pub fn preview(
    definition: &SurveyDefinition,
    tenant: &Tenant,
    language: Language,
    sending: &SendingSettings,
    sms_link: &str,
) -> (OutgoingEmail, String) {
    let survey = Survey::unsaved(definition.clone());
    let nowhere = Links {
        survey: "#preview".to_owned(),
        unsubscribe: "#preview".to_owned(),
    };
    let mut message = Message {
        survey: &survey,
        tenant,
        properties: &Properties::default(),
        language,
        step: Step::Invite,
        links: &nowhere,
    };
    let email = message.email(sending, &tenant.id, "preview", "preview".to_owned(), String::new());
    let short = Links {
        survey: sms_link.to_owned(),
        unsubscribe: String::new(),
    };
    message.links = &short;
    (email, message.sms())
}

/// The built-in SMS of `language` from `sender` about `product`, with `link`: what a survey
/// without its own question sends (for benchmarks and previews).
pub fn built_in_sms(language: Language, sender: &str, product: &str, link: &str) -> String {
    let question = texts::fill(texts::texts(language).question, |name| {
        (name == "product_name").then_some(product)
    });
    sms_text(sender, &question, link)
}

/// `{sender}: {question} {link}`, or without the sender when only that fits one segment.
fn sms_text(sender: &str, question: &str, link: &str) -> String {
    let full = format!("{sender}: {question} {link}");
    let short = format!("{question} {link}");
    if crate::messaging::sms_segments(&full) > 1 && crate::messaging::sms_segments(&short) == 1 {
        short
    } else {
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_segments_count_gsm7_and_ucs2() {
        use crate::messaging::sms_segments;
        assert_eq!(sms_segments(&"a".repeat(160)), 1);
        assert_eq!(sms_segments(&"a".repeat(161)), 2);
        assert_eq!(sms_segments(&"a".repeat(307)), 3, "153 a segment once concatenated");
        assert_eq!(
            sms_segments(&"€".repeat(80)),
            1,
            "an extension character is two septets"
        );
        assert_eq!(sms_segments(&"€".repeat(81)), 2);
        assert_eq!(sms_segments(&"’".repeat(70)), 1, "not GSM-7: UCS-2");
        assert_eq!(sms_segments(&"’".repeat(71)), 2);
    }

    #[test]
    fn an_sms_drops_the_sender_to_fit_one_segment() {
        let link = format!("https://s.example/r/{}", "a".repeat(87));
        assert_eq!(
            sms_text("Acme", "Rate us 0-10?", &link),
            format!("Acme: Rate us 0-10? {link}")
        );
        let question = "How likely are you to recommend us to a friend?";
        assert_eq!(
            sms_text("Acme Corporation", question, &link),
            format!("{question} {link}")
        );
        let long = "How likely are you to recommend Acme to a friend or colleague?";
        assert_eq!(
            sms_text("Acme", long, &link),
            format!("Acme: {long} {link}"),
            "two segments either way"
        );
    }
}
