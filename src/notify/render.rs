//! The words of every mail to a supplier contact (a notice, a digest, an invitation), in Dutch
//! and English, from minijinja templates: built in, or replaced one by one from the files of
//! `[notices] templates`.
//!
//! Escaping: the `.html` templates are auto-escaped by minijinja (their names end in `.html`);
//! every string that came from the mail (or from the config) is also made display-safe first
//! (control, bidi and invisible characters escaped, as everywhere we show mail text), so neither
//! a subject nor a file name can change what the mail says around it. The subject is made one
//! line after rendering, whatever the template or the data held, so no header can be added
//! through it ([`one_line`]).
//!
//! Templates from files are read and compiled once, when the config is loaded
//! ([`Templates::from_dir`]): a syntax error, a name that is not a template's (a typo must not
//! silently keep the built-in), a file that is too large, or a template that fails on sample
//! data (an unknown variable, a loop that runs out of fuel) is a config error that names the
//! file and line. Every rendering is bounded by fuel, so a template cannot loop for ever.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use minijinja::{Environment, UndefinedBehavior, Value, context};

use super::{Digest, Identity, Invitation, Language, Notice, NoticeKind};
use crate::policy::RuleText;
use crate::text::{display_safe, is_invisible};

/// Template instructions one rendering may execute: far more than the built-in templates
/// need (a digest of [`super::digest::MAX_ITEMS`] notices takes about a tenth), and a bound on
/// a loop in an overriding template.
const FUEL: u64 = 200_000;

/// The largest template file read.
pub const MAX_TEMPLATE_SIZE: u64 = 256 * 1024;

/// The longest subject, in characters; longer ones are cut (with `…`).
const MAX_SUBJECT_CHARS: usize = 250;

/// The kinds of mail, the first part of a template's name.
pub const KINDS: [&str; 4] = ["refused", "undeliverable", "digest", "invitation"];
/// The languages, the second part.
pub const LANGUAGES: [&str; 2] = ["nl", "en"];
/// The parts of a mail, the third part: the Subject, the text part, the HTML part.
pub const PARTS: [&str; 3] = ["subject", "txt", "html"];

/// The words of one mail: the subject line, the text part and the HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    /// The Subject, one line.
    pub subject: String,
    /// The text/plain part.
    pub text: String,
    /// The text/html part.
    pub html: String,
}

/// A template file that cannot be used, located: the config validator reports it as
/// `FILE:LINE: message` (line 0: the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The file (or the directory, when it cannot be read).
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is not at a line.
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The templates of every mail: the built-in ones, some replaced from files. Cheap to clone
/// (the compiled set is shared).
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    /// The replaced templates: name → (file, source), for equality and for the log.
    overrides: BTreeMap<String, (PathBuf, String)>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field(
                "overrides",
                &self.overrides.values().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl PartialEq for Templates {
    fn eq(&self, other: &Templates) -> bool {
        self.overrides == other.overrides
    }
}

impl Eq for Templates {}

impl Default for Templates {
    fn default() -> Templates {
        Templates::builtin()
    }
}

/// The built-in set, compiled once.
static BUILTIN: LazyLock<Templates> = LazyLock::new(|| {
    let (env, _) = environment(&BTreeMap::new());
    Templates {
        env: Arc::new(env),
        overrides: BTreeMap::new(),
    }
});

/// An environment with every built-in template, then `overrides` over them; the errors of
/// the overrides that do not compile (a built-in that did not compile would be missing, and
/// its rendering would fail with "template not found": the tests compile every one).
fn environment(
    overrides: &BTreeMap<String, (PathBuf, String)>,
) -> (Environment<'static>, Vec<TemplateError>) {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    let mut errors = Vec::new();
    for name in names() {
        let (kind, lang, part) = split(&name).unwrap_or_default();
        let result = match overrides.get(&name) {
            Some((file, source)) => env
                .add_template_owned(name.clone(), source.clone())
                .map_err(|e| located(file, &e)),
            None => env
                .add_template_owned(name.clone(), builtin_source(kind, lang, part))
                .map_err(|e| located(Path::new(&name), &e)),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    (env, errors)
}

/// Every template name: `<kind>.<lang>.<part>`.
fn names() -> impl Iterator<Item = String> {
    KINDS.iter().flat_map(|k| {
        LANGUAGES
            .iter()
            .flat_map(move |l| PARTS.iter().map(move |p| format!("{k}.{l}.{p}")))
    })
}

/// The three parts of a template name, if it is one.
fn split(name: &str) -> Option<(&str, &str, &str)> {
    let mut it = name.split('.');
    let (kind, lang, part) = (it.next()?, it.next()?, it.next()?);
    (it.next().is_none()
        && KINDS.contains(&kind)
        && LANGUAGES.contains(&lang)
        && PARTS.contains(&part))
    .then_some((kind, lang, part))
}

/// A minijinja error as a located template error.
fn located(file: &Path, e: &minijinja::Error) -> TemplateError {
    let what = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    TemplateError {
        file: file.to_path_buf(),
        line: e.line().unwrap_or(0),
        message: format!(
            "{what}; fix the template (its variables are listed in docs/config.md, [notices] templates)"
        ),
    }
}

impl Templates {
    /// The built-in templates.
    pub fn builtin() -> Templates {
        BUILTIN.clone()
    }

    /// The built-in templates, each replaced by the file of its name in `dir` where there is
    /// one (`refused.nl.txt`, `invitation.en.subject`, ...). Hidden files (a leading `.`, an
    /// editor's swap file) are skipped; any other file must be named after a template.
    ///
    /// # Errors
    /// Every problem found: the directory cannot be read, a name is not a template's, a file
    /// cannot be read, is larger than [`MAX_TEMPLATE_SIZE`] or is not UTF-8, a template does
    /// not compile, or fails on sample data (an undefined variable, out of fuel).
    pub fn from_dir(dir: &Path) -> Result<Templates, Vec<TemplateError>> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            vec![TemplateError {
                file: dir.to_path_buf(),
                line: 0,
                message: format!("the templates directory cannot be read ({e}); create it, or point notices.templates at the directory of the template files"),
            }]
        })?;
        let mut files: Vec<(String, PathBuf, bool)> = Vec::new();
        let mut errors = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    errors.push(TemplateError {
                        file: dir.to_path_buf(),
                        line: 0,
                        message: format!("the templates directory cannot be read ({e})"),
                    });
                    continue;
                }
            };
            let path = entry.path();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file())
                || std::fs::metadata(&path).is_ok_and(|m| m.is_file());
            match entry.file_name().to_str() {
                Some(name) if name.starts_with('.') => {}
                Some(name) => files.push((name.to_string(), path, is_file)),
                None => errors.push(TemplateError {
                    file: path,
                    line: 0,
                    message: "is not a template's name (not UTF-8); name template files <kind>.<lang>.<part>, e.g. refused.nl.txt".into(),
                }),
            }
        }
        files.sort();
        let mut overrides = BTreeMap::new();
        for (name, path, is_file) in files {
            if split(&name).is_none() {
                errors.push(TemplateError {
                    file: path,
                    line: 0,
                    message: format!("\"{}\" is not a template's name; name template files <kind>.<lang>.<part>: kind {}, lang {}, part {}, e.g. refused.nl.txt", display_safe(&name), KINDS.join(", "), LANGUAGES.join(", "), PARTS.join(", ")),
                });
                continue;
            }
            if !is_file {
                errors.push(TemplateError {
                    file: path,
                    line: 0,
                    message: "is not a file; a template is a file of text".into(),
                });
                continue;
            }
            match read_template(&path) {
                Ok(source) => {
                    overrides.insert(name, (path, source));
                }
                Err(message) => errors.push(TemplateError {
                    file: path,
                    line: 0,
                    message,
                }),
            }
        }
        let (env, compile_errors) = environment(&overrides);
        errors.extend(compile_errors);
        let templates = Templates {
            env: Arc::new(env),
            overrides,
        };
        if errors.is_empty() {
            errors.extend(templates.try_overrides());
        }
        if errors.is_empty() {
            Ok(templates)
        } else {
            Err(errors)
        }
    }

    /// The files that replaced a built-in template.
    pub fn overridden(&self) -> impl Iterator<Item = &Path> {
        self.overrides.values().map(|(p, _)| p.as_path())
    }

    /// Renders every replaced template on sample data, with undefined variables an error, so
    /// that a typo shows at load rather than as an empty field in a mail. Returns the errors.
    fn try_overrides(&self) -> Vec<TemplateError> {
        let mut strict = (*self.env).clone();
        strict.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut errors = Vec::new();
        for (name, (file, _)) in &self.overrides {
            let Some((kind, lang, _)) = split(name) else {
                continue;
            };
            let language = if lang == "en" {
                Language::En
            } else {
                Language::Nl
            };
            let ctx = match kind {
                "invitation" => invitation_context(&sample_invitation(language)),
                "digest" => digest_context(&Digest {
                    language,
                    items: vec![
                        sample_notice(NoticeKind::Refused, language),
                        sample_notice(NoticeKind::Undeliverable, language),
                    ],
                }),
                "undeliverable" => {
                    notice_context(&sample_notice(NoticeKind::Undeliverable, language))
                }
                _ => notice_context(&sample_notice(NoticeKind::Refused, language)),
            };
            if let Err(e) = strict.get_template(name).and_then(|t| t.render(&ctx)) {
                errors.push(located(file, &e));
            }
        }
        errors
    }

    /// The words of a notice.
    ///
    /// # Errors
    /// A template failed (out of fuel, or a bug in it), in words.
    pub fn notice(&self, notice: &Notice) -> Result<Words, String> {
        let kind = match notice.kind {
            NoticeKind::Refused => "refused",
            NoticeKind::Undeliverable => "undeliverable",
        };
        self.words(kind, notice.language, &notice_context(notice))
    }

    /// The words of a digest.
    ///
    /// # Errors
    /// A template failed (out of fuel, or a bug in it), in words.
    pub fn digest(&self, digest: &Digest) -> Result<Words, String> {
        self.words("digest", digest.language, &digest_context(digest))
    }

    /// The words of an invitation.
    ///
    /// # Errors
    /// A template failed (out of fuel, or a bug in it), in words.
    pub fn invitation(&self, invitation: &Invitation) -> Result<Words, String> {
        self.words(
            "invitation",
            invitation.language,
            &invitation_context(invitation),
        )
    }

    fn words(&self, kind: &str, language: Language, ctx: &Value) -> Result<Words, String> {
        let get = |part: &str| {
            let name = format!("{kind}.{}.{part}", language.as_str());
            self.env
                .get_template(&name)
                .and_then(|t| t.render(ctx))
                .map_err(|e| format!("template {name}: {e}"))
        };
        Ok(Words {
            subject: one_line(&get("subject")?),
            text: get("txt")?,
            html: get("html")?,
        })
    }
}

/// Reads one template file: at most [`MAX_TEMPLATE_SIZE`], UTF-8.
fn read_template(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot be read ({e}); check that trustgate's user may read it"))?;
    let mut bytes = Vec::new();
    file.take(MAX_TEMPLATE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read ({e}); check that trustgate's user may read it"))?;
    if bytes.len() as u64 > MAX_TEMPLATE_SIZE {
        return Err(format!(
            "is larger than {} KiB; a template is a page of text",
            MAX_TEMPLATE_SIZE / 1024
        ));
    }
    String::from_utf8(bytes).map_err(|_| "is not UTF-8; save it as UTF-8".to_string())
}

/// A subject as one header line: every control, line separator and invisible character
/// (CR and LF above all) becomes a space, runs of spaces one, the ends trimmed, and at most
/// [`MAX_SUBJECT_CHARS`] characters. No header can be added through it, whatever the template
/// or the mail put in.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_SUBJECT_CHARS * 4));
    let mut count = 0;
    for c in s.chars().map(|c| if is_invisible(c) { ' ' } else { c }) {
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if count == MAX_SUBJECT_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
        count += 1;
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// Renders `notice` in its language with the built-in templates.
///
/// # Errors
/// A template failed (a bug in a template, or out of fuel), in words.
pub fn render(notice: &Notice) -> Result<Words, String> {
    Templates::builtin().notice(notice)
}

/// Renders `invitation` in its language with the built-in templates.
///
/// # Errors
/// A template failed (a bug in a template, or out of fuel), in words.
pub fn render_invitation(invitation: &Invitation) -> Result<Words, String> {
    Templates::builtin().invitation(invitation)
}

/// Renders `digest` in its language with the built-in templates.
///
/// # Errors
/// A template failed (a bug in a template, or out of fuel), in words.
pub fn render_digest(digest: &Digest) -> Result<Words, String> {
    Templates::builtin().digest(digest)
}

fn safe(s: &str) -> String {
    display_safe(s).to_string()
}

fn safe_all(v: &[String]) -> Vec<String> {
    v.iter().map(|s| safe(s)).collect()
}

fn language_word(language: Language) -> &'static str {
    language.as_str()
}

/// What a notice's templates see (also each item of a digest's).
fn notice_values(notice: &Notice) -> Value {
    let rules: Vec<Value> = notice
        .rules
        .iter()
        .map(|r| {
            // The policy's text may begin with its own `[id]`; the templates show the id.
            let text = r
                .text
                .strip_prefix(&format!("[{}]", r.id))
                .map_or(r.text.as_str(), str::trim_start);
            context! { id => safe(&r.id), text => safe(text) }
        })
        .collect();
    context! {
        kind => match notice.kind { NoticeKind::Refused => "refused", NoticeKind::Undeliverable => "undeliverable" },
        language => language_word(notice.language),
        message_id => safe(&notice.message_id),
        received => safe(&notice.received),
        receiver => safe(&notice.receiver),
        organisation => safe(&notice.organisation),
        subject => notice.subject.as_deref().map(safe),
        files => safe_all(&notice.files),
        invoice_numbers => safe_all(&notice.invoice_numbers),
        reply => notice.reply.as_deref().map(safe),
        rules => rules,
    }
}

fn notice_context(notice: &Notice) -> Value {
    let (intro, todo, title, labels) = html_words(notice);
    context! {
        intro => intro,
        todo => todo,
        title => title,
        labels => labels,
        ..notice_values(notice)
    }
}

fn digest_context(digest: &Digest) -> Value {
    let items: Vec<Value> = digest.items.iter().map(notice_values).collect();
    context! {
        language => language_word(digest.language),
        count => items.len(),
        items => items,
    }
}

fn invitation_context(invitation: &Invitation) -> Value {
    let identity = match &invitation.identity {
        Identity::Domain(d) => context! { kind => "domain", value => safe(d) },
        Identity::Address(a) => context! { kind => "address", value => safe(a) },
        Identity::VerifiedUsers => context! { kind => "verified_users", value => "" },
    };
    context! {
        language => language_word(invitation.language),
        contact => safe(&invitation.contact),
        supplier => safe(&invitation.supplier),
        receiver => safe(&invitation.receiver),
        organisation => safe(&invitation.organisation),
        document_type => safe(&invitation.document_type),
        identity => identity,
    }
}

/// The sample a replacing notice template is tried on at load.
fn sample_notice(kind: NoticeKind, language: Language) -> Notice {
    Notice {
        kind,
        language,
        message_id: "20261203T170000Z-000001".into(),
        received: "Thu, 03 Dec 2026 17:00:00 +0000".into(),
        receiver: "AD64SDE@trust.example.test".into(),
        organisation: "ACME B.V.".into(),
        subject: Some("Factuur 2026-17".into()),
        files: vec!["INV-17.xml".into(), "INV-17.pdf".into()],
        invoice_numbers: vec!["2026-17".into()],
        reply: Some("550 5.6.0 invoice refused".into()),
        rules: vec![RuleText {
            id: "BR-NL-1".into(),
            text: "For suppliers in the Netherlands the supplier MUST provide either a KVK or OIN number".into(),
        }],
    }
}

/// The sample a replacing invitation template is tried on at load.
fn sample_invitation(language: Language) -> Invitation {
    Invitation {
        language,
        contact: "billing@supplier.example".into(),
        supplier: "Supplier B.V.".into(),
        receiver: "AD64SDE@trust.example.test".into(),
        organisation: "ACME B.V.".into(),
        document_type: "purchase-invoice".into(),
        identity: Identity::Domain("supplier.example".into()),
    }
}

/// The built-in source of a template.
fn builtin_source(kind: &str, lang: &str, part: &str) -> &'static str {
    match (kind, lang, part) {
        ("refused" | "undeliverable", "nl", "subject") => SUBJECT_NL,
        ("refused" | "undeliverable", "en", "subject") => SUBJECT_EN,
        ("refused" | "undeliverable", "nl", "txt") => TEXT_NL,
        ("refused" | "undeliverable", "en", "txt") => TEXT_EN,
        ("refused" | "undeliverable", _, "html") => HTML,
        ("digest", "nl", "subject") => DIGEST_SUBJECT_NL,
        ("digest", "en", "subject") => DIGEST_SUBJECT_EN,
        ("digest", "nl", "txt") => DIGEST_TEXT_NL,
        ("digest", "en", "txt") => DIGEST_TEXT_EN,
        ("digest", "nl", "html") => DIGEST_HTML_NL,
        ("digest", "en", "html") => DIGEST_HTML_EN,
        ("invitation", "nl", "subject") => INVITATION_SUBJECT_NL,
        ("invitation", "en", "subject") => INVITATION_SUBJECT_EN,
        ("invitation", "nl", "txt") => INVITATION_TEXT_NL,
        ("invitation", "en", "txt") => INVITATION_TEXT_EN,
        ("invitation", "nl", "html") => INVITATION_HTML_NL,
        ("invitation", "en", "html") => INVITATION_HTML_EN,
        _ => "",
    }
}

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

const DIGEST_SUBJECT_NL: &str = "Samenvatting: {{ count }} {% if count == 1 %}bericht{% else %}berichten{% endif %} over uw facturen";
const DIGEST_SUBJECT_EN: &str =
    "Digest: {{ count }} notice{% if count != 1 %}s{% endif %} about your invoices";

const DIGEST_TEXT_NL: &str = "Beste leverancier,

U heeft het aantal berichten over uw facturen bereikt dat wij in één uur sturen. De berichten daarna staan hieronder samen in één e-mail ({{ count }}).
{% for item in items %}
{{ loop.index }}. {% if item.kind == 'refused' %}Geweigerd{% else %}Ontvangen, maar niet afgeleverd{% endif %}: ons kenmerk {{ item.message_id }}
   Ontvangen: {{ item.received }}, aan {{ item.receiver }} ({{ item.organisation }})
{% if item.subject %}   Onderwerp: {{ item.subject }}
{% endif %}{% if item.files %}   Bestanden: {{ item.files | join(', ') }}
{% endif %}{% if item.invoice_numbers %}   Factuurnummers: {{ item.invoice_numbers | join(', ') }}
{% endif %}   Reden:{% if item.kind == 'undeliverable' %} de factuur kon niet worden afgeleverd bij de administratie van de ontvanger; de ontvanger is op de hoogte gebracht.
{% elif item.rules %}
{% for rule in item.rules %}     [{{ rule.id }}] {{ rule.text }}
{% endfor %}{% elif item.reply %} {{ item.reply }}
{% else %} niet opgegeven.
{% endif %}{% endfor %}
Wat kunt u doen?
Herstel elke geweigerde factuur en stuur haar opnieuw, als XML (UBL, SI-UBL 2.0, Peppol BIS 3, CII of XRechnung), met een PDF met dezelfde naam. Vermeld bij vragen het kenmerk van het bericht.

Dit is een automatisch bericht van trustgate; antwoorden op dit bericht worden niet gelezen.
";

const DIGEST_TEXT_EN: &str = "Dear supplier,

You have reached the number of notices about your invoices we send in one hour. The notices since are below, together in one message ({{ count }}).
{% for item in items %}
{{ loop.index }}. {% if item.kind == 'refused' %}Refused{% else %}Received, but not delivered{% endif %}: our reference {{ item.message_id }}
   Received: {{ item.received }}, to {{ item.receiver }} ({{ item.organisation }})
{% if item.subject %}   Subject: {{ item.subject }}
{% endif %}{% if item.files %}   Files: {{ item.files | join(', ') }}
{% endif %}{% if item.invoice_numbers %}   Invoice numbers: {{ item.invoice_numbers | join(', ') }}
{% endif %}   Why:{% if item.kind == 'undeliverable' %} the invoice could not be delivered to the receiver's accounts system; the receiver has been told.
{% elif item.rules %}
{% for rule in item.rules %}     [{{ rule.id }}] {{ rule.text }}
{% endfor %}{% elif item.reply %} {{ item.reply }}
{% else %} not given.
{% endif %}{% endfor %}
What to do:
Correct each refused invoice and send it again, as XML (UBL, SI-UBL 2.0, Peppol BIS 3, CII or XRechnung), with a PDF of the same name. Please quote the message's reference with any question.

This is an automatic message from trustgate; replies to it are not read.
";

const DIGEST_HTML_NL: &str = "<!DOCTYPE html>
<html lang=\"nl\"><head><meta charset=\"utf-8\"><title>Samenvatting van trustgate</title></head>
<body>
<p>U heeft het aantal berichten over uw facturen bereikt dat wij in één uur sturen. De berichten daarna staan hieronder samen in één e-mail ({{ count }}).</p>
<ol>
{% for item in items %}<li><p>{% if item.kind == 'refused' %}Geweigerd{% else %}Ontvangen, maar niet afgeleverd{% endif %}: ons kenmerk <code>{{ item.message_id }}</code></p>
<ul>
<li>Ontvangen: {{ item.received }}, aan {{ item.receiver }} ({{ item.organisation }})</li>
{% if item.subject %}<li>Onderwerp: {{ item.subject }}</li>{% endif %}
{% for file in item.files %}<li>Bestand: {{ file }}</li>{% endfor %}
{% for number in item.invoice_numbers %}<li>Factuurnummer: {{ number }}</li>{% endfor %}
<li>Reden: {% if item.kind == 'undeliverable' %}de factuur kon niet worden afgeleverd; de ontvanger is op de hoogte gebracht.{% elif item.rules %}{% for rule in item.rules %}<br><code>{{ rule.id }}</code> {{ rule.text }}{% endfor %}{% elif item.reply %}{{ item.reply }}{% else %}niet opgegeven.{% endif %}</li>
</ul></li>
{% endfor %}</ol>
<p>Herstel elke geweigerde factuur en stuur haar opnieuw, als XML met een PDF met dezelfde naam.</p>
</body></html>
";

const DIGEST_HTML_EN: &str = "<!DOCTYPE html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Digest from trustgate</title></head>
<body>
<p>You have reached the number of notices about your invoices we send in one hour. The notices since are below, together in one message ({{ count }}).</p>
<ol>
{% for item in items %}<li><p>{% if item.kind == 'refused' %}Refused{% else %}Received, but not delivered{% endif %}: our reference <code>{{ item.message_id }}</code></p>
<ul>
<li>Received: {{ item.received }}, to {{ item.receiver }} ({{ item.organisation }})</li>
{% if item.subject %}<li>Subject: {{ item.subject }}</li>{% endif %}
{% for file in item.files %}<li>File: {{ file }}</li>{% endfor %}
{% for number in item.invoice_numbers %}<li>Invoice number: {{ number }}</li>{% endfor %}
<li>Why: {% if item.kind == 'undeliverable' %}the invoice could not be delivered; the receiver has been told.{% elif item.rules %}{% for rule in item.rules %}<br><code>{{ rule.id }}</code> {{ rule.text }}{% endfor %}{% elif item.reply %}{{ item.reply }}{% else %}not given.{% endif %}</li>
</ul></li>
{% endfor %}</ol>
<p>Correct each refused invoice and send it again, as XML with a PDF of the same name.</p>
</body></html>
";

const INVITATION_SUBJECT_NL: &str =
    "Stuur uw facturen aan {{ organisation }} voortaan naar {{ receiver }}";
const INVITATION_SUBJECT_EN: &str =
    "From now on, send your invoices for {{ organisation }} to {{ receiver }}";

const INVITATION_TEXT_NL: &str = "Beste {{ supplier }},

{{ organisation }} ontvangt facturen ({{ document_type }}) per e-mail op een eigen adres, dat elke factuur bij aankomst controleert. Stuur uw facturen aan {{ organisation }} voortaan naar:

    {{ receiver }}

Wie mag versturen: {% if identity.kind == 'domain' %}elk adres van het domein {{ identity.value }}{% elif identity.kind == 'address' %}alleen het adres {{ identity.value }}{% else %}de geverifieerde gebruikers van {{ organisation }}{% endif %}. E-mail aan dit adres van een andere afzender wordt geweigerd.

Wat wordt geaccepteerd:
  - een e-factuur als XML: UBL, Peppol BIS 3, SI-UBL 2.0, CII of XRechnung;
  - Factur-X (of ZUGFeRD): een PDF met de factuur-XML erin;
  - een XML met een PDF met dezelfde naam, bijvoorbeeld INV-2026-17.xml met INV-2026-17.pdf.
Een PDF zonder factuur-XML erin of ernaast is geen e-factuur en wordt geweigerd.

Zo stelt u het in uw boekhoudpakket in:
  - In de meeste pakketten: voeg bij de klant {{ organisation }} een contactpersoon toe met het e-mailadres {{ receiver }}, en kies \"factuur per e-mail versturen\" met de XML (UBL) en de PDF als bijlagen.
  - Exact Online: vul bij de contactpersoon van de klant {{ organisation }} het e-mailadres {{ receiver }} in, en kies als bijlagetype \"Simplerinvoicing + PDF\".
  - e-Boekhouden.nl: zet in de instellingen voor facturen per e-mail het meesturen van het UBL-bestand aan (naast de PDF), en vul bij de klant {{ organisation }} het e-mailadres {{ receiver }} in.

Wordt een factuur geweigerd of kan ze niet worden afgeleverd, dan krijgt {{ contact }} een e-mail met de reden en wat u kunt doen.

Dit is een automatisch bericht van trustgate namens {{ organisation }}; antwoorden op dit bericht worden niet gelezen. Neem bij vragen contact op met {{ organisation }}, niet met dit adres.
";

const INVITATION_TEXT_EN: &str = "Dear {{ supplier }},

{{ organisation }} receives invoices ({{ document_type }}) by e-mail at an address of its own, which checks each invoice as it arrives. Please send your invoices to {{ organisation }} from now on to:

    {{ receiver }}

Who may send: {% if identity.kind == 'domain' %}any address at the domain {{ identity.value }}{% elif identity.kind == 'address' %}only the address {{ identity.value }}{% else %}the verified users of {{ organisation }}{% endif %}. Mail to this address from any other sender is refused.

What is accepted:
  - an e-invoice as XML: UBL, Peppol BIS 3, SI-UBL 2.0, CII or XRechnung;
  - Factur-X (or ZUGFeRD): a PDF with the invoice XML inside;
  - an XML with a PDF of the same name, e.g. INV-2026-17.xml with INV-2026-17.pdf.
A PDF without an invoice XML inside or beside it is not an e-invoice, and is refused.

How to set it up in your accounting software:
  - In most packages: add a contact person to the customer {{ organisation }} with the e-mail address {{ receiver }}, and choose \"send invoice by email\" with the XML (UBL) and the PDF as attachments.
  - Exact Online: enter {{ receiver }} as the e-mail address of the contact person of the customer {{ organisation }}, and choose the attachment type \"Simplerinvoicing + PDF\".
  - e-Boekhouden.nl: in the settings for invoices by e-mail, turn on sending the UBL file (beside the PDF), and enter {{ receiver }} as the e-mail address of the customer {{ organisation }} there.

When an invoice is refused or cannot be delivered, {{ contact }} gets an e-mail that says why and what to do.

This is an automatic message from trustgate on behalf of {{ organisation }}; replies to it are not read. For questions, please contact {{ organisation }}, not this address.
";

const INVITATION_HTML_NL: &str = "<!DOCTYPE html>
<html lang=\"nl\"><head><meta charset=\"utf-8\"><title>Uw facturen aan {{ organisation }}</title></head>
<body>
<p>Beste {{ supplier }},</p>
<p>{{ organisation }} ontvangt facturen ({{ document_type }}) per e-mail op een eigen adres, dat elke factuur bij aankomst controleert. Stuur uw facturen aan {{ organisation }} voortaan naar:</p>
<p><strong><code>{{ receiver }}</code></strong></p>
<p>Wie mag versturen: {% if identity.kind == 'domain' %}elk adres van het domein <code>{{ identity.value }}</code>{% elif identity.kind == 'address' %}alleen het adres <code>{{ identity.value }}</code>{% else %}de geverifieerde gebruikers van {{ organisation }}{% endif %}. E-mail aan dit adres van een andere afzender wordt geweigerd.</p>
<p>Wat wordt geaccepteerd:</p>
<ul>
<li>een e-factuur als XML: UBL, Peppol BIS 3, SI-UBL 2.0, CII of XRechnung;</li>
<li>Factur-X (of ZUGFeRD): een PDF met de factuur-XML erin;</li>
<li>een XML met een PDF met dezelfde naam, bijvoorbeeld <code>INV-2026-17.xml</code> met <code>INV-2026-17.pdf</code>.</li>
</ul>
<p>Zo stelt u het in uw boekhoudpakket in:</p>
<ul>
<li>In de meeste pakketten: voeg bij de klant {{ organisation }} een contactpersoon toe met het e-mailadres <code>{{ receiver }}</code>, en kies &quot;factuur per e-mail versturen&quot; met de XML (UBL) en de PDF als bijlagen.</li>
<li>Exact Online: vul bij de contactpersoon van de klant het e-mailadres <code>{{ receiver }}</code> in en kies als bijlagetype &quot;Simplerinvoicing + PDF&quot;.</li>
<li>e-Boekhouden.nl: zet in de instellingen voor facturen per e-mail het meesturen van het UBL-bestand aan (naast de PDF), en vul <code>{{ receiver }}</code> in als e-mailadres van de klant.</li>
</ul>
<p>Wordt een factuur geweigerd of kan ze niet worden afgeleverd, dan krijgt {{ contact }} een e-mail met de reden en wat u kunt doen.</p>
<p>Dit is een automatisch bericht van trustgate namens {{ organisation }}; antwoorden op dit bericht worden niet gelezen.</p>
</body></html>
";

const INVITATION_HTML_EN: &str = "<!DOCTYPE html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your invoices to {{ organisation }}</title></head>
<body>
<p>Dear {{ supplier }},</p>
<p>{{ organisation }} receives invoices ({{ document_type }}) by e-mail at an address of its own, which checks each invoice as it arrives. Please send your invoices to {{ organisation }} from now on to:</p>
<p><strong><code>{{ receiver }}</code></strong></p>
<p>Who may send: {% if identity.kind == 'domain' %}any address at the domain <code>{{ identity.value }}</code>{% elif identity.kind == 'address' %}only the address <code>{{ identity.value }}</code>{% else %}the verified users of {{ organisation }}{% endif %}. Mail to this address from any other sender is refused.</p>
<p>What is accepted:</p>
<ul>
<li>an e-invoice as XML: UBL, Peppol BIS 3, SI-UBL 2.0, CII or XRechnung;</li>
<li>Factur-X (or ZUGFeRD): a PDF with the invoice XML inside;</li>
<li>an XML with a PDF of the same name, e.g. <code>INV-2026-17.xml</code> with <code>INV-2026-17.pdf</code>.</li>
</ul>
<p>How to set it up in your accounting software:</p>
<ul>
<li>In most packages: add a contact person to the customer {{ organisation }} with the e-mail address <code>{{ receiver }}</code>, and choose &quot;send invoice by email&quot; with the XML (UBL) and the PDF as attachments.</li>
<li>Exact Online: enter <code>{{ receiver }}</code> as the e-mail address of the customer's contact person, and choose the attachment type &quot;Simplerinvoicing + PDF&quot;.</li>
<li>e-Boekhouden.nl: in the settings for invoices by e-mail, turn on sending the UBL file (beside the PDF), and enter <code>{{ receiver }}</code> as the customer's e-mail address.</li>
</ul>
<p>When an invoice is refused or cannot be delivered, {{ contact }} gets an e-mail that says why and what to do.</p>
<p>This is an automatic message from trustgate on behalf of {{ organisation }}; replies to it are not read.</p>
</body></html>
";

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
        // The rule's own `[BR-NL-1]` at the start of its text is not shown twice.
        assert!(nl.text.contains("  [BR-NL-1] For suppliers"), "{}", nl.text);
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

    fn invitation(language: Language, identity: Identity) -> Invitation {
        Invitation {
            language,
            contact: "billing@supplier.example".into(),
            supplier: "Supplier <b>B.V.</b>".into(),
            receiver: "AD64SDE@trust.example.test".into(),
            organisation: "ACME\r\nBcc: victim@example.org".into(),
            document_type: "purchase-invoice".into(),
            identity,
        }
    }

    #[test]
    fn every_built_in_template_compiles_and_renders() {
        let (_, errors) = environment(&BTreeMap::new());
        assert_eq!(errors, []);
        for language in [Language::Nl, Language::En] {
            for kind in [NoticeKind::Refused, NoticeKind::Undeliverable] {
                let words = render(&sample_notice(kind, language)).unwrap();
                assert!(!words.subject.is_empty() && !words.text.is_empty());
                assert!(words.html.starts_with("<!DOCTYPE html>"));
            }
            let digest = Digest {
                language,
                items: vec![sample_notice(NoticeKind::Refused, language)],
            };
            assert!(render_digest(&digest).is_ok());
            assert!(render_invitation(&sample_invitation(language)).is_ok());
        }
        // Loading from an empty directory changes nothing, and equals the built-in set.
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Templates::from_dir(dir.path()).unwrap(),
            Templates::builtin()
        );
    }

    #[test]
    fn an_invitation_names_the_address_and_the_identity_in_both_languages() {
        let cases = [
            (
                Identity::Domain("supplier.example".into()),
                "supplier.example",
            ),
            (
                Identity::Address("invoices@supplier.example".into()),
                "invoices@supplier.example",
            ),
        ];
        for (identity, shown) in cases {
            let nl = render_invitation(&invitation(Language::Nl, identity.clone())).unwrap();
            assert!(
                nl.text.contains("\n    AD64SDE@trust.example.test\n"),
                "{}",
                nl.text
            );
            assert!(
                nl.subject.contains("AD64SDE@trust.example.test"),
                "{}",
                nl.subject
            );
            assert!(nl.text.contains("Wie mag versturen: "), "{}", nl.text);
            assert!(nl.text.contains(shown), "{}", nl.text);
            assert!(nl.html.contains(shown), "{}", nl.html);
            assert!(nl.text.contains("Simplerinvoicing + PDF"), "{}", nl.text);
            assert!(nl.text.contains("e-Boekhouden.nl"), "{}", nl.text);
            let en = render_invitation(&invitation(Language::En, identity)).unwrap();
            assert!(
                en.text.contains("\n    AD64SDE@trust.example.test\n"),
                "{}",
                en.text
            );
            assert!(en.text.contains(shown), "{}", en.text);
            assert!(
                en.html.contains("AD64SDE@trust.example.test"),
                "{}",
                en.html
            );
            for format in [
                "UBL",
                "Peppol BIS 3",
                "SI-UBL 2.0",
                "CII",
                "XRechnung",
                "Factur-X",
                "same name",
            ] {
                assert!(en.text.contains(format), "{format}: {}", en.text);
            }
        }
        let nl = render_invitation(&invitation(Language::Nl, Identity::VerifiedUsers)).unwrap();
        assert!(
            nl.text.contains("de geverifieerde gebruikers van ACME"),
            "{}",
            nl.text
        );
        let en = render_invitation(&invitation(Language::En, Identity::VerifiedUsers)).unwrap();
        assert!(
            en.text.contains("the verified users of ACME"),
            "{}",
            en.text
        );
    }

    #[test]
    fn names_in_an_invitation_cannot_break_out() {
        let words = render_invitation(&invitation(Language::En, Identity::VerifiedUsers)).unwrap();
        // The organisation's CR LF is shown escaped in the parts and a space in the subject.
        assert!(!words.subject.contains(['\r', '\n']), "{:?}", words.subject);
        assert!(!words.text.contains("\nBcc:"), "{}", words.text);
        assert!(words.text.contains("ACME\\u{D}\\u{A}Bcc"), "{}", words.text);
        assert!(!words.html.contains("<b>"), "{}", words.html);
        assert!(
            words.html.contains("Supplier &lt;b&gt;B.V.&lt;&#x2f;b&gt;"),
            "{}",
            words.html
        );
    }

    #[test]
    fn a_digest_lists_each_notice_with_its_reason() {
        let mut undeliverable = sample_notice(NoticeKind::Undeliverable, Language::Nl);
        undeliverable.message_id = "20261203T170500Z-000002".into();
        undeliverable.subject = Some("Factuur <i>2</i>".into());
        let digest = Digest {
            language: Language::Nl,
            items: vec![
                sample_notice(NoticeKind::Refused, Language::Nl),
                undeliverable,
            ],
        };
        let words = render_digest(&digest).unwrap();
        assert_eq!(words.subject, "Samenvatting: 2 berichten over uw facturen");
        assert!(
            words
                .text
                .contains("1. Geweigerd: ons kenmerk 20261203T170000Z-000001"),
            "{}",
            words.text
        );
        assert!(
            words.text.contains("     [BR-NL-1] For suppliers"),
            "{}",
            words.text
        );
        assert!(
            words.text.contains(
                "2. Ontvangen, maar niet afgeleverd: ons kenmerk 20261203T170500Z-000002"
            ),
            "{}",
            words.text
        );
        assert!(
            words
                .text
                .contains("   Bestanden: INV-17.xml, INV-17.pdf\n"),
            "{}",
            words.text
        );
        assert!(
            words.html.contains("Factuur &lt;i&gt;2&lt;&#x2f;i&gt;"),
            "{}",
            words.html
        );
        let en = render_digest(&Digest {
            language: Language::En,
            ..digest
        })
        .unwrap();
        assert_eq!(en.subject, "Digest: 2 notices about your invoices");
    }

    #[test]
    fn a_subject_is_one_bounded_line() {
        assert_eq!(one_line(" a\r\nBcc: x@y\u{2028}z\t "), "a Bcc: x@y z");
        let long = "x".repeat(MAX_SUBJECT_CHARS + 10);
        assert_eq!(one_line(&long).chars().count(), MAX_SUBJECT_CHARS + 1);
    }

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_template_file_replaces_only_its_own_template() {
        let dir = dir_with(&[
            (
                "refused.nl.subject",
                "Geweigerd {{ message_id }}\r\nBcc: victim@example.org\n",
            ),
            ("refused.nl.txt", "Eigen tekst: {{ subject }}\n"),
            (".refused.nl.txt.swp", "{% broken"),
        ]);
        let templates = Templates::from_dir(dir.path()).unwrap();
        assert_eq!(templates.overridden().count(), 2);
        let words = templates.notice(&notice(Language::Nl)).unwrap();
        // The template's own CR LF never makes a header line.
        assert_eq!(
            words.subject,
            "Geweigerd 20261203T170000Z-000001 Bcc: victim@example.org"
        );
        assert!(
            words
                .text
                .starts_with("Eigen tekst: Factuur 2026-17 <b>\\u{202E}fdp.exe"),
            "{}",
            words.text
        );
        // The HTML part, the English ones and the other kinds stay built in.
        assert!(
            words.html.contains("<code>BR-NL-1</code>"),
            "{}",
            words.html
        );
        let en = templates.notice(&notice(Language::En)).unwrap();
        assert!(en.subject.starts_with("Invoice refused"), "{}", en.subject);
        let mut undeliverable = notice(Language::Nl);
        undeliverable.kind = NoticeKind::Undeliverable;
        let words = templates.notice(&undeliverable).unwrap();
        assert!(
            words.subject.starts_with("Factuur niet afgeleverd"),
            "{}",
            words.subject
        );
        assert_ne!(templates, Templates::builtin());
    }

    #[test]
    fn a_broken_template_file_is_named_with_its_line() {
        let dir = dir_with(&[
            ("refused.nl.txt", "Regel een\nRegel twee {% if subject %}\n"),
            (
                "invitation.en.html",
                "<p>{{ receiver }}</p>\n<p>{{ recever.name }}</p>\n",
            ),
            (
                "digest.en.txt",
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            ),
            ("refused.nl.text", "typo in the part"),
            ("refused.fr.txt", "no such language"),
        ]);
        let errors = Templates::from_dir(dir.path()).unwrap_err();
        let shown: Vec<String> = errors
            .iter()
            .map(|e| {
                format!(
                    "{}:{}: {}",
                    e.file.file_name().unwrap().to_string_lossy(),
                    e.line,
                    e.message
                )
            })
            .collect();
        assert!(
            shown
                .iter()
                .any(|e| e
                    .starts_with("refused.fr.txt:0: \"refused.fr.txt\" is not a template's name")),
            "{shown:#?}"
        );
        assert!(
            shown.iter().any(|e| e
                .starts_with("refused.nl.text:0: \"refused.nl.text\" is not a template's name")),
            "{shown:#?}"
        );
        // A syntax error: compiled at load, named with its line.
        assert!(
            shown
                .iter()
                .any(|e| e.starts_with("refused.nl.txt:2: syntax error")),
            "{shown:#?}"
        );
        assert_eq!(errors.len(), 3, "{shown:#?}");
        // Once the names and the syntax are right, each template is tried on sample data:
        // an unknown variable and a loop without end are errors too.
        let dir = dir_with(&[
            (
                "invitation.en.html",
                "<p>{{ receiver }}</p>\n<p>{{ recever.name }}</p>\n",
            ),
            (
                "digest.en.txt",
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            ),
        ]);
        let errors = Templates::from_dir(dir.path()).unwrap_err();
        let shown: Vec<String> = errors
            .iter()
            .map(|e| {
                format!(
                    "{}:{}: {}",
                    e.file.file_name().unwrap().to_string_lossy(),
                    e.line,
                    e.message
                )
            })
            .collect();
        assert!(
            shown
                .iter()
                .any(|e| e.starts_with("invitation.en.html:2: undefined value")),
            "{shown:#?}"
        );
        assert!(
            shown
                .iter()
                .any(|e| e.starts_with("digest.en.txt:1: ") && e.contains("fuel")),
            "{shown:#?}"
        );
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let errors = Templates::from_dir(&dir.path().join("nope")).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .message
                .starts_with("the templates directory cannot be read"),
            "{:?}",
            errors[0]
        );
    }
}
