//! The words of a notice, in Dutch and English, from minijinja templates. The `.html`
//! templates are auto-escaped by minijinja; every string that came from the mail is also made
//! display-safe first (control, bidi and invisible characters escaped, as everywhere we show
//! mail text), so neither a subject nor a file name can change what the notice says around it.
//! Template execution is bounded (fuel), for the day templates come from files.

use minijinja::{Environment, context};

use super::{Language, Notice, NoticeKind};
use crate::text::display_safe;

/// Template instructions one rendering may execute: far more than the built-in templates
/// need, and a bound on a loop in an overriding template.
const FUEL: u64 = 200_000;

const SUBJECT_NL: &str = "{% if kind == 'refused' %}Factuur geweigerd{% else %}Factuur niet afgeleverd{% endif %}{% if invoice_numbers %}: {{ invoice_numbers | join(', ') }}{% endif %} ({{ message_id }})";
const SUBJECT_EN: &str = "{% if kind == 'refused' %}Invoice refused{% else %}Invoice not delivered{% endif %}{% if invoice_numbers %}: {{ invoice_numbers | join(', ') }}{% endif %} ({{ message_id }})";

const TEXT_NL: &str = "Beste leverancier,

{% if kind == 'refused' -%}
Uw e-mail aan {{ receiver }} ({{ organisation }}) is op {{ received }} geweigerd. De factuur is niet in behandeling genomen.
{%- else -%}
Uw e-mail aan {{ receiver }} ({{ organisation }}) is op {{ received }} ontvangen, maar de factuur kon niet worden afgeleverd bij de administratie van de ontvanger.
{%- endif %}

Ontvangen:
{% if subject %}  Onderwerp: {{ subject }}
{% endif %}{% for file in files %}  Bestand: {{ file }}
{% endfor %}{% for number in invoice_numbers %}  Factuurnummer: {{ number }}
{% endfor %}
{% if rules %}Reden:
{% for rule in rules %}  [{{ rule.id }}] {{ rule.text }}
{% endfor %}
{% endif %}{% if reply %}Antwoord van de server: {{ reply }}

{% endif %}Wat kunt u doen?
{% if kind == 'refused' -%}
Herstel de factuur en stuur haar opnieuw, als XML (UBL, SI-UBL 2.0, Peppol BIS 3, CII of XRechnung), met een PDF met dezelfde naam.
{%- else -%}
U hoeft niets te doen: de ontvanger is op de hoogte gebracht. Neem bij vragen contact op met de ontvanger.
{%- endif %}
Vermeld bij vragen ons kenmerk {{ message_id }}.

Dit is een automatisch bericht van trustgate; antwoorden op dit bericht worden niet gelezen.
";

const TEXT_EN: &str = "Dear supplier,

{% if kind == 'refused' -%}
Your e-mail to {{ receiver }} ({{ organisation }}) of {{ received }} was refused. The invoice was not taken into processing.
{%- else -%}
Your e-mail to {{ receiver }} ({{ organisation }}) of {{ received }} was received, but the invoice could not be delivered to the receiver's accounts system.
{%- endif %}

Received:
{% if subject %}  Subject: {{ subject }}
{% endif %}{% for file in files %}  File: {{ file }}
{% endfor %}{% for number in invoice_numbers %}  Invoice number: {{ number }}
{% endfor %}
{% if rules %}Why:
{% for rule in rules %}  [{{ rule.id }}] {{ rule.text }}
{% endfor %}
{% endif %}{% if reply %}The server's answer: {{ reply }}

{% endif %}What to do:
{% if kind == 'refused' -%}
Correct the invoice and send it again, as XML (UBL, SI-UBL 2.0, Peppol BIS 3, CII or XRechnung), with a PDF of the same name.
{%- else -%}
Nothing: the receiver has been told. For questions, contact the receiver.
{%- endif %}
Please quote our reference {{ message_id }}.

This is an automatic message from trustgate; replies to it are not read.
";

const HTML: &str = "<!DOCTYPE html>
<html lang=\"{{ language }}\"><head><meta charset=\"utf-8\"><title>{{ title }}</title></head>
<body>
<p>{{ intro }}</p>
<ul>
{% if subject %}<li>{{ labels.subject }}: {{ subject }}</li>{% endif %}
{% for file in files %}<li>{{ labels.file }}: {{ file }}</li>{% endfor %}
{% for number in invoice_numbers %}<li>{{ labels.number }}: {{ number }}</li>{% endfor %}
</ul>
{% if rules %}<p>{{ labels.why }}</p><ul>{% for rule in rules %}<li><code>{{ rule.id }}</code> {{ rule.text }}</li>{% endfor %}</ul>{% endif %}
<p>{{ todo }}</p>
<p>{{ labels.reference }}: <code>{{ message_id }}</code></p>
</body></html>
";

/// A rendered notice: the subject line, the text part and the HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The Subject, one line.
    pub subject: String,
    /// The text/plain part.
    pub text: String,
    /// The text/html part.
    pub html: String,
}

/// Renders `notice` in its language.
///
/// # Errors
/// A template failed (a bug in a template, or out of fuel), in words.
pub fn render(notice: &Notice) -> Result<Rendered, String> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    let (subject, text) = match notice.language {
        Language::Nl => (SUBJECT_NL, TEXT_NL),
        Language::En => (SUBJECT_EN, TEXT_EN),
    };
    env.add_template("subject.txt", subject)
        .and_then(|()| env.add_template("notice.txt", text))
        .and_then(|()| env.add_template("notice.html", HTML))
        .map_err(|e| format!("notice template: {e}"))?;

    let safe = |s: &str| display_safe(s).to_string();
    let safe_all = |v: &[String]| v.iter().map(|s| safe(s)).collect::<Vec<_>>();
    let rules: Vec<minijinja::Value> = notice
        .rules
        .iter()
        .map(|r| context! { id => safe(&r.id), text => safe(&r.text) })
        .collect();
    let (intro, todo, title, labels) = html_words(notice);
    let ctx = context! {
        kind => match notice.kind { NoticeKind::Refused => "refused", NoticeKind::Undeliverable => "undeliverable" },
        language => match notice.language { Language::Nl => "nl", Language::En => "en" },
        message_id => safe(&notice.message_id),
        received => safe(&notice.received),
        receiver => safe(&notice.receiver),
        organisation => safe(&notice.organisation),
        subject => notice.subject.as_deref().map(safe),
        files => safe_all(&notice.files),
        invoice_numbers => safe_all(&notice.invoice_numbers),
        reply => notice.reply.as_deref().map(safe),
        rules => rules,
        intro => intro,
        todo => todo,
        title => title,
        labels => labels,
    };
    let get = |name: &str| {
        env.get_template(name)
            .and_then(|t| t.render(&ctx))
            .map_err(|e| format!("notice template {name}: {e}"))
    };
    // One line, whatever the mail's numbers held: no header can be added through the subject.
    let subject: String = get("subject.txt")?
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Ok(Rendered {
        subject,
        text: get("notice.txt")?,
        html: get("notice.html")?,
    })
}

/// The fixed sentences of the HTML part, in the notice's language.
fn html_words(notice: &Notice) -> (String, &'static str, &'static str, minijinja::Value) {
    let receiver = display_safe(&notice.receiver).to_string();
    match (notice.language, notice.kind) {
        (Language::Nl, kind) => (
            match kind {
                NoticeKind::Refused => format!(
                    "Uw e-mail aan {receiver} is geweigerd; de factuur is niet in behandeling genomen."
                ),
                NoticeKind::Undeliverable => format!(
                    "Uw e-mail aan {receiver} is ontvangen, maar de factuur kon niet worden afgeleverd."
                ),
            },
            match kind {
                NoticeKind::Refused => {
                    "Herstel de factuur en stuur haar opnieuw, als XML met een PDF met dezelfde naam."
                }
                NoticeKind::Undeliverable => {
                    "U hoeft niets te doen: de ontvanger is op de hoogte gebracht."
                }
            },
            "Bericht van trustgate",
            context! { subject => "Onderwerp", file => "Bestand", number => "Factuurnummer", why => "Reden:", reference => "Ons kenmerk" },
        ),
        (Language::En, kind) => (
            match kind {
                NoticeKind::Refused => format!(
                    "Your e-mail to {receiver} was refused; the invoice was not taken into processing."
                ),
                NoticeKind::Undeliverable => format!(
                    "Your e-mail to {receiver} was received, but the invoice could not be delivered."
                ),
            },
            match kind {
                NoticeKind::Refused => {
                    "Correct the invoice and send it again, as XML with a PDF of the same name."
                }
                NoticeKind::Undeliverable => "Nothing: the receiver has been told.",
            },
            "Message from trustgate",
            context! { subject => "Subject", file => "File", number => "Invoice number", why => "Why:", reference => "Our reference" },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RuleText;

    pub(crate) fn notice(language: Language) -> Notice {
        Notice {
            kind: NoticeKind::Refused,
            language,
            message_id: "20261203T170000Z-000001".into(),
            received: "Thu, 03 Dec 2026 17:00:00 +0000".into(),
            receiver: "AD64SDE@trust.example.test".into(),
            organisation: "ACME B.V.".into(),
            subject: Some("Factuur 2026-17 <b>\u{202e}fdp.exe".into()),
            files: vec!["INV-17.xml".into(), "INV-17.pdf".into()],
            invoice_numbers: vec!["2026-17\r\nBcc: victim@example.org".into()],
            reply: Some("550 5.6.0 invoice refused: 2026-17 (INV-17.xml): [BR-NL-1] ...".into()),
            rules: vec![RuleText {
                id: "BR-NL-1".into(),
                text: "[BR-NL-1] For suppliers in the Netherlands the supplier MUST provide either a KVK or OIN number".into(),
            }],
        }
    }

    #[test]
    fn dutch_and_english_name_the_rule_and_our_reference() {
        let nl = render(&notice(Language::Nl)).unwrap();
        assert!(
            nl.subject.starts_with("Factuur geweigerd: "),
            "{}",
            nl.subject
        );
        assert!(nl.text.contains("Reden:\n  [BR-NL-1] "), "{}", nl.text);
        assert!(
            nl.text.contains("ons kenmerk 20261203T170000Z-000001"),
            "{}",
            nl.text
        );
        let en = render(&notice(Language::En)).unwrap();
        assert!(
            en.subject.starts_with("Invoice refused: "),
            "{}",
            en.subject
        );
        assert!(en.text.contains("Why:\n  [BR-NL-1] "), "{}", en.text);
        assert!(en.html.contains("<code>BR-NL-1</code>"), "{}", en.html);
    }

    #[test]
    fn mail_text_cannot_break_out() {
        let r = render(&notice(Language::En)).unwrap();
        // The subject is one line: the CR LF from an invoice number became spaces.
        assert!(
            !r.subject.contains('\r') && !r.subject.contains('\n'),
            "{:?}",
            r.subject
        );
        // HTML from the mail is escaped, invisible characters are shown escaped.
        assert!(!r.html.contains("<b>"), "{}", r.html);
        assert!(r.html.contains("&lt;b&gt;"), "{}", r.html);
        assert!(!r.text.contains('\u{202e}') && !r.html.contains('\u{202e}'));
        // A CR LF in the text part is shown, not obeyed: it stays on its line.
        assert!(!r.text.contains("\nBcc:"), "{}", r.text);
    }
}
