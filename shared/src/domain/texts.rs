//! The built-in texts of the respondent pages in every language a survey may use, and the
//! `{{ name }}` placeholders survey texts may carry (filled from person properties, never
//! evaluated as a template).

use super::language::Language;

/// Every text a respondent page shows.
#[derive(Debug)]
pub struct Texts {
    pub question: &'static str,
    pub not_likely: &'static str,
    pub very_likely: &'static str,
    pub comment: &'static str,
    pub submit: &'static str,
    pub thanks: &'static str,
    pub thanks_detail: &'static str,
    pub edit_hint: &'static str,
    pub closed: &'static str,
    pub expired: &'static str,
    pub invalid: &'static str,
    pub unsubscribe_question: &'static str,
    pub unsubscribe_button: &'static str,
    pub unsubscribed: &'static str,
    pub optional: &'static str,
    pub choose_score: &'static str,
    pub saved: &'static str,
    /// Without script, over a score chosen in the email: nothing is kept until the form is sent.
    pub not_recorded: &'static str,
    /// Over another score than the one saved: it is kept only once the form is sent.
    pub not_saved_yet: &'static str,
    /// The score kept so far (`{{ score }}`), when another one is chosen.
    pub saved_score: &'static str,
    /// A link whose score is not one of 0 to 10.
    pub invalid_score: &'static str,
    pub csat_low: &'static str,
    pub csat_high: &'static str,
    pub ces_low: &'static str,
    pub ces_high: &'static str,
    /// Put before a reminder's subject.
    pub reminder: &'static str,
    /// The website survey's button that closes it.
    pub close: &'static str,
}

const EN: Texts = Texts {
    question: "How likely are you to recommend {{ product_name }} to a friend or colleague?",
    not_likely: "Not at all likely",
    very_likely: "Extremely likely",
    comment: "What is the main reason for your score?",
    submit: "Send",
    thanks: "Thank you!",
    thanks_detail: "Your answer has been recorded.",
    edit_hint: "You can still add or change your comment.",
    closed: "This survey is closed.",
    expired: "This link has expired.",
    invalid: "This link is not valid.",
    unsubscribe_question: "Stop receiving surveys from {{ sender }}?",
    unsubscribe_button: "Unsubscribe",
    unsubscribed: "You will not receive any more surveys from {{ sender }}.",
    optional: "optional",
    choose_score: "Choose a score from 0 to 10",
    saved: "Your score is saved.",
    not_recorded: "Nothing is recorded until you press Send.",
    not_saved_yet: "Your new score is saved only when you press Send.",
    saved_score: "Your saved score is {{ score }}.",
    invalid_score: "The score in this link is not valid. Choose a score from 0 to 10.",
    csat_low: "Very dissatisfied",
    csat_high: "Very satisfied",
    ces_low: "Very difficult",
    ces_high: "Very easy",
    reminder: "Reminder",
    close: "Close",
};

const DA: Texts = Texts {
    question: "Hvor sandsynligt er det, at du vil anbefale {{ product_name }} til en ven eller kollega?",
    not_likely: "Slet ikke sandsynligt",
    very_likely: "Meget sandsynligt",
    comment: "Hvad er den vigtigste grund til din vurdering?",
    submit: "Send",
    thanks: "Tak!",
    thanks_detail: "Dit svar er registreret.",
    edit_hint: "Du kan stadig tilføje eller ændre din kommentar.",
    closed: "Denne undersøgelse er lukket.",
    expired: "Dette link er udløbet.",
    invalid: "Dette link er ikke gyldigt.",
    unsubscribe_question: "Vil du ikke længere modtage undersøgelser fra {{ sender }}?",
    unsubscribe_button: "Afmeld",
    unsubscribed: "Du modtager ikke flere undersøgelser fra {{ sender }}.",
    optional: "valgfrit",
    choose_score: "Vælg en score fra 0 til 10",
    saved: "Din score er gemt.",
    not_recorded: "Der gemmes intet, før du trykker på Send.",
    not_saved_yet: "Din nye score gemmes først, når du trykker på Send.",
    saved_score: "Din gemte score er {{ score }}.",
    invalid_score: "Scoren i dette link er ikke gyldig. Vælg en score fra 0 til 10.",
    csat_low: "Meget utilfreds",
    csat_high: "Meget tilfreds",
    ces_low: "Meget svært",
    ces_high: "Meget nemt",
    reminder: "Påmindelse",
    close: "Luk",
};

const NL: Texts = Texts {
    question: "Hoe waarschijnlijk is het dat je {{ product_name }} zou aanbevelen aan een vriend of collega?",
    not_likely: "Helemaal niet waarschijnlijk",
    very_likely: "Zeer waarschijnlijk",
    comment: "Wat is de belangrijkste reden voor je score?",
    submit: "Versturen",
    thanks: "Bedankt!",
    thanks_detail: "Je antwoord is opgeslagen.",
    edit_hint: "Je kunt je opmerking nog toevoegen of wijzigen.",
    closed: "Deze enquête is gesloten.",
    expired: "Deze link is verlopen.",
    invalid: "Deze link is niet geldig.",
    unsubscribe_question: "Wil je geen enquêtes meer ontvangen van {{ sender }}?",
    unsubscribe_button: "Afmelden",
    unsubscribed: "Je ontvangt geen enquêtes meer van {{ sender }}.",
    optional: "optioneel",
    choose_score: "Kies een score van 0 tot 10",
    saved: "Je score is opgeslagen.",
    not_recorded: "Er wordt niets opgeslagen totdat je op Versturen drukt.",
    not_saved_yet: "Je nieuwe score wordt pas opgeslagen als je op Versturen drukt.",
    saved_score: "Je opgeslagen score is {{ score }}.",
    invalid_score: "De score in deze link is niet geldig. Kies een score van 0 tot 10.",
    csat_low: "Zeer ontevreden",
    csat_high: "Zeer tevreden",
    ces_low: "Zeer moeilijk",
    ces_high: "Zeer gemakkelijk",
    reminder: "Herinnering",
    close: "Sluiten",
};

const DE: Texts = Texts {
    question: "Wie wahrscheinlich ist es, dass Sie {{ product_name }} einem Freund oder Kollegen empfehlen?",
    not_likely: "Überhaupt nicht wahrscheinlich",
    very_likely: "Äußerst wahrscheinlich",
    comment: "Was ist der wichtigste Grund für Ihre Bewertung?",
    submit: "Senden",
    thanks: "Vielen Dank!",
    thanks_detail: "Ihre Antwort wurde gespeichert.",
    edit_hint: "Sie können Ihren Kommentar noch ergänzen oder ändern.",
    closed: "Diese Umfrage ist geschlossen.",
    expired: "Dieser Link ist abgelaufen.",
    invalid: "Dieser Link ist ungültig.",
    unsubscribe_question: "Keine Umfragen mehr von {{ sender }} erhalten?",
    unsubscribe_button: "Abmelden",
    unsubscribed: "Sie erhalten keine Umfragen mehr von {{ sender }}.",
    optional: "optional",
    choose_score: "Wählen Sie einen Wert von 0 bis 10",
    saved: "Ihre Bewertung ist gespeichert.",
    not_recorded: "Erst wenn Sie auf Senden klicken, wird etwas gespeichert.",
    not_saved_yet: "Ihre neue Bewertung wird erst gespeichert, wenn Sie auf Senden klicken.",
    saved_score: "Bisher gespeichert: {{ score }}.",
    invalid_score: "Der Wert in diesem Link ist ungültig. Wählen Sie einen Wert von 0 bis 10.",
    csat_low: "Sehr unzufrieden",
    csat_high: "Sehr zufrieden",
    ces_low: "Sehr schwierig",
    ces_high: "Sehr einfach",
    reminder: "Erinnerung",
    close: "Schließen",
};

const FR: Texts = Texts {
    question: "Quelle est la probabilité que vous recommandiez {{ product_name }} à un ami ou un collègue ?",
    not_likely: "Pas du tout probable",
    very_likely: "Très probable",
    comment: "Quelle est la principale raison de votre note ?",
    submit: "Envoyer",
    thanks: "Merci !",
    thanks_detail: "Votre réponse a été enregistrée.",
    edit_hint: "Vous pouvez encore ajouter ou modifier votre commentaire.",
    closed: "Cette enquête est close.",
    expired: "Ce lien a expiré.",
    invalid: "Ce lien n’est pas valide.",
    unsubscribe_question: "Ne plus recevoir d’enquêtes de {{ sender }} ?",
    unsubscribe_button: "Se désabonner",
    unsubscribed: "Vous ne recevrez plus d’enquêtes de {{ sender }}.",
    optional: "facultatif",
    choose_score: "Choisissez une note de 0 à 10",
    saved: "Votre note est enregistrée.",
    not_recorded: "Rien n’est enregistré tant que vous n’avez pas cliqué sur « Envoyer ».",
    not_saved_yet: "Votre nouvelle note ne sera enregistrée que lorsque vous aurez cliqué sur « Envoyer ».",
    saved_score: "Votre note enregistrée est {{ score }}.",
    invalid_score: "La note de ce lien n’est pas valide. Choisissez une note de 0 à 10.",
    csat_low: "Très insatisfait",
    csat_high: "Très satisfait",
    ces_low: "Très difficile",
    ces_high: "Très facile",
    reminder: "Rappel",
    close: "Fermer",
};

const ES: Texts = Texts {
    question: "¿Qué probabilidad hay de que recomiendes {{ product_name }} a un amigo o colega?",
    not_likely: "Nada probable",
    very_likely: "Muy probable",
    comment: "¿Cuál es el motivo principal de tu puntuación?",
    submit: "Enviar",
    thanks: "¡Gracias!",
    thanks_detail: "Tu respuesta ha quedado registrada.",
    edit_hint: "Todavía puedes añadir o cambiar tu comentario.",
    closed: "Esta encuesta está cerrada.",
    expired: "Este enlace ha caducado.",
    invalid: "Este enlace no es válido.",
    unsubscribe_question: "¿Dejar de recibir encuestas de {{ sender }}?",
    unsubscribe_button: "Darse de baja",
    unsubscribed: "No recibirás más encuestas de {{ sender }}.",
    optional: "opcional",
    choose_score: "Elige una puntuación de 0 a 10",
    saved: "Tu puntuación se ha guardado.",
    not_recorded: "No se guarda nada hasta que pulses Enviar.",
    not_saved_yet: "Tu nueva puntuación solo se guarda cuando pulses Enviar.",
    saved_score: "Tu puntuación guardada es {{ score }}.",
    invalid_score: "La puntuación de este enlace no es válida. Elige una puntuación de 0 a 10.",
    csat_low: "Muy insatisfecho",
    csat_high: "Muy satisfecho",
    ces_low: "Muy difícil",
    ces_high: "Muy fácil",
    reminder: "Recordatorio",
    close: "Cerrar",
};

const SV: Texts = Texts {
    question: "Hur troligt är det att du skulle rekommendera {{ product_name }} till en vän eller kollega?",
    not_likely: "Inte alls troligt",
    very_likely: "Mycket troligt",
    comment: "Vad är den främsta anledningen till ditt betyg?",
    submit: "Skicka",
    thanks: "Tack!",
    thanks_detail: "Ditt svar har registrerats.",
    edit_hint: "Du kan fortfarande lägga till eller ändra din kommentar.",
    closed: "Den här undersökningen är stängd.",
    expired: "Den här länken har gått ut.",
    invalid: "Den här länken är inte giltig.",
    unsubscribe_question: "Sluta ta emot undersökningar från {{ sender }}?",
    unsubscribe_button: "Avregistrera",
    unsubscribed: "Du får inga fler undersökningar från {{ sender }}.",
    optional: "valfritt",
    choose_score: "Välj ett betyg från 0 till 10",
    saved: "Ditt betyg är sparat.",
    not_recorded: "Inget sparas förrän du trycker på Skicka.",
    not_saved_yet: "Ditt nya betyg sparas först när du trycker på Skicka.",
    saved_score: "Ditt sparade betyg är {{ score }}.",
    invalid_score: "Betyget i den här länken är inte giltigt. Välj ett betyg från 0 till 10.",
    csat_low: "Mycket missnöjd",
    csat_high: "Mycket nöjd",
    ces_low: "Mycket svårt",
    ces_high: "Mycket lätt",
    reminder: "Påminnelse",
    close: "Stäng",
};

const NB: Texts = Texts {
    question: "Hvor sannsynlig er det at du vil anbefale {{ product_name }} til en venn eller kollega?",
    not_likely: "Ikke sannsynlig i det hele tatt",
    very_likely: "Svært sannsynlig",
    comment: "Hva er hovedgrunnen til poengsummen din?",
    submit: "Send",
    thanks: "Takk!",
    thanks_detail: "Svaret ditt er registrert.",
    edit_hint: "Du kan fortsatt legge til eller endre kommentaren din.",
    closed: "Denne undersøkelsen er stengt.",
    expired: "Denne lenken er utløpt.",
    invalid: "Denne lenken er ikke gyldig.",
    unsubscribe_question: "Vil du slutte å motta undersøkelser fra {{ sender }}?",
    unsubscribe_button: "Meld av",
    unsubscribed: "Du vil ikke motta flere undersøkelser fra {{ sender }}.",
    optional: "valgfritt",
    choose_score: "Velg en poengsum fra 0 til 10",
    saved: "Poengsummen din er lagret.",
    not_recorded: "Ingenting blir lagret før du trykker på Send.",
    not_saved_yet: "Den nye poengsummen din lagres først når du trykker på Send.",
    saved_score: "Den lagrede poengsummen din er {{ score }}.",
    invalid_score: "Poengsummen i denne lenken er ikke gyldig. Velg en poengsum fra 0 til 10.",
    csat_low: "Svært misfornøyd",
    csat_high: "Svært fornøyd",
    ces_low: "Svært vanskelig",
    ces_high: "Svært enkelt",
    reminder: "Påminnelse",
    close: "Lukk",
};

/// The built-in texts of a language.
pub fn texts(language: Language) -> &'static Texts {
    match language {
        Language::En => &EN,
        Language::Da => &DA,
        Language::Nl => &NL,
        Language::De => &DE,
        Language::Fr => &FR,
        Language::Es => &ES,
        Language::Sv => &SV,
        Language::Nb => &NB,
    }
}

/// `text` with each `{{ name }}` replaced by `value(name)` (or nothing when it has none). Plain
/// substitution: survey texts are data, never a template that could run.
pub fn fill<'a>(text: &str, value: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else { break };
        out.push_str(&rest[..start]);
        out.push_str(value(rest[start + 2..start + len].trim()).unwrap_or_default());
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The placeholders survey texts may use: the sender's name, the product (the person's
/// `product_name` property, else the tenant's name), any other person property by
/// `properties.<name>`.
pub const PLACEHOLDERS: &[&str] = &["sender", "product_name"];
/// The prefix of a person property's placeholder.
pub const PROPERTY_PLACEHOLDER: &str = "properties.";

/// Checks that every `{{ … }}` of a survey text is closed and names a known placeholder, so a
/// typo is refused when the survey is saved rather than sent as an empty gap.
pub fn check_placeholders(text: &str) -> std::result::Result<(), String> {
    let known = |name: &str| {
        PLACEHOLDERS.contains(&name)
            || name.strip_prefix(PROPERTY_PLACEHOLDER).is_some_and(|p| {
                !p.is_empty() && p.len() <= 40 && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
    };
    let unknown = std::cell::RefCell::new(None);
    // Filled with nothing: a `{{` left over is one that never closed.
    let rest = fill(text, |name| {
        if !known(name) {
            unknown.borrow_mut().get_or_insert_with(|| name.to_owned());
        }
        Some("")
    });
    if let Some(name) = unknown.into_inner() {
        return Err(format!(
            "has an unknown placeholder `{{{{ {name} }}}}`: use {{{{ sender }}}}, {{{{ product_name }}}} or \
             {{{{ properties.<name> }}}} for a person property"
        ));
    }
    if rest.contains("{{") {
        return Err("has a `{{` without its `}}`".into());
    }
    Ok(())
}

/// An API message as a sentence on a page: its first letter up, a full stop at its end.
pub fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.is_empty() && !out.ends_with(['.', '!', '?', ')']) {
        out.push('.');
    }
    out
}

/// `text` safe inside HTML text and double- or single-quoted attributes (pages and emails that
/// are not rendered through minijinja's autoescape).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_messages_read_as_sentences() {
        assert_eq!(sentence("survey response not found"), "Survey response not found.");
        assert_eq!(sentence("Too many requests."), "Too many requests.");
        assert_eq!(sentence(""), "");
    }

    use super::*;

    #[test]
    fn placeholders_are_filled_not_evaluated() {
        let props = |name: &str| match name {
            "product_name" => Some("Acme {% for x in y %}"),
            _ => None,
        };
        assert_eq!(
            fill("Recommend {{ product_name }}?", props),
            "Recommend Acme {% for x in y %}?"
        );
        assert_eq!(fill("{{product_name}}{{ unknown }}!", props), "Acme {% for x in y %}!");
        assert_eq!(fill("open {{ brace", props), "open {{ brace");
        assert_eq!(
            check_placeholders("Recommend {{product_name}} ({{ properties.plan }}) from {{ sender }}?"),
            Ok(())
        );
        for bad in [
            "{{ prodcut_name }}",
            "{{ plan }}",
            "open {{ brace",
            "{{ properties. }}",
            "{{ properties.a b }}",
            "{{}}",
        ] {
            let refused = check_placeholders(bad).unwrap_err();
            assert!(
                refused.contains("placeholder") || refused.contains("without"),
                "{bad}: {refused}"
            );
        }
        for language in super::super::language::LANGUAGES {
            assert!(texts(language).question.contains("{{ product_name }}"), "{language:?}");
            assert!(texts(language).unsubscribed.contains("{{ sender }}"), "{language:?}");
        }
    }
}
