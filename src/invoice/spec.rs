//! Which specification (CIUS, extension or profile) an invoice claims to follow.
//!
//! Read from UBL `cbc:CustomizationID` or CII `GuidelineSpecifiedDocumentContextParameter/ram:ID`
//! after trimming whitespace, and compared as whole strings (a prefix match on
//! `urn:cen.eu:en16931:2017` cannot tell the flavours apart). Pure; called by `mod.rs`.

use serde::Serialize;

/// The specification an invoice declares. Serialised as its [`Specification::id`], the value
/// the config's `accept_specifications` uses, so the config, `inspect`, the spool and the sinks
/// share one name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Specification {
    /// Plain EN 16931 (`urn:cen.eu:en16931:2017`); also the Factur-X/ZUGFeRD EN 16931 profile.
    En16931,
    /// Peppol BIS Billing 3.0.
    PeppolBis3,
    /// Peppol BIS Self-Billing 3.0.
    PeppolSelfBilling,
    /// SI-UBL 2.0 / NLCIUS (Dutch CIUS, UBL or CII).
    SiUbl2,
    /// SI-UBL 2.0 / NLCIUS with the G-account extension.
    SiUbl2GAccount,
    /// XRechnung (German CIUS), with its major and minor version.
    XRechnung {
        /// Major version, e.g. 3 for `xrechnung_3.0`.
        major: u8,
        /// Minor version, e.g. 0 for `xrechnung_3.0`.
        minor: u8,
        /// The CIUS itself, its extension or its Clean Vehicles Directive profile.
        flavour: XRechnungFlavour,
    },
    /// A Factur-X (or ZUGFeRD 2.x) profile other than EN 16931.
    FacturX(FacturXProfile),
    /// ZUGFeRD 1.0 (predates EN 16931).
    Zugferd1(Zugferd1Profile),
    /// UBL 2.0 (OASIS `...:ubl:xpath:Invoice-2.0...`), predates EN 16931.
    Ubl20,
    /// An identifier we do not recognise (see `Inspection::customization_id`).
    Other,
    /// No identifier at all (breaks BR-01 where EN 16931 applies).
    Missing,
}

impl Serialize for Specification {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.id())
    }
}

/// What an XRechnung identifier adds to the CIUS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XRechnungFlavour {
    /// `…xrechnung_3.0`: the CIUS alone.
    Cius,
    /// `…#conformant#urn:xeinkauf.de:kosit:extension:xrechnung_3.0`: the XRechnung
    /// extension (its BR-DEX rules: more attachment types, third-party prepayments, sub-lines).
    Extension,
    /// `…#compliant#urn:xeinkauf.de:kosit:xrechnung:cvd_0.9`: the Clean Vehicles Directive
    /// profile (its BR-DE-CVD rules: the vehicle category and clean vehicle attribute).
    Cvd,
}

impl XRechnungFlavour {
    /// The suffix of the config id (`-extension`, `-cvd`) and of the name (` Extension`,
    /// ` CVD`).
    fn suffixes(self) -> (&'static str, &'static str) {
        match self {
            XRechnungFlavour::Cius => ("", ""),
            XRechnungFlavour::Extension => ("-extension", " Extension"),
            XRechnungFlavour::Cvd => ("-cvd", " CVD"),
        }
    }
}

/// Factur-X / ZUGFeRD 2.x profiles that are not plain EN 16931.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FacturXProfile {
    /// MINIMUM: not an EN 16931 invoice by design.
    Minimum,
    /// BASIC WL: no lines, not an EN 16931 invoice by design.
    BasicWl,
    /// BASIC: an EN 16931 subset.
    Basic,
    /// EXTENDED: EN 16931 plus extensions.
    Extended,
}

/// ZUGFeRD 1.0 profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Zugferd1Profile {
    /// BASIC.
    Basic,
    /// COMFORT.
    Comfort,
    /// EXTENDED.
    Extended,
    /// Unrecognised suffix.
    Other,
}

const EN16931: &str = "urn:cen.eu:en16931:2017";
const NLCIUS: &str = "urn:cen.eu:en16931:2017#compliant#urn:fdc:nen.nl:nlcius:v1.0";
const NLCIUS_GACCOUNT: &str = "urn:cen.eu:en16931:2017#compliant#urn:fdc:nen.nl:nlcius:v1.0#conformant#urn:fdc:nen.nl:gaccount:v1.0";

impl Specification {
    /// Classifies an identifier (whitespace around it is ignored).
    pub fn from_id(id: Option<&str>) -> Specification {
        let Some(id) = id.map(str::trim).filter(|s| !s.is_empty()) else {
            return Specification::Missing;
        };
        match id {
            EN16931 => return Specification::En16931,
            NLCIUS => return Specification::SiUbl2,
            NLCIUS_GACCOUNT => return Specification::SiUbl2GAccount,
            "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0" => {
                return Specification::PeppolBis3;
            }
            "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:selfbilling:3.0" => {
                return Specification::PeppolSelfBilling;
            }
            "urn:factur-x.eu:1p0:minimum" | "urn:zugferd.de:2p0:minimum" => {
                return Specification::FacturX(FacturXProfile::Minimum);
            }
            "urn:factur-x.eu:1p0:basicwl" | "urn:zugferd.de:2p0:basicwl" => {
                return Specification::FacturX(FacturXProfile::BasicWl);
            }
            "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic"
            | "urn:cen.eu:en16931:2017#compliant#urn:zugferd.de:2p0:basic"
            | "urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:basic" => {
                return Specification::FacturX(FacturXProfile::Basic);
            }
            "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended"
            | "urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended"
            | "urn:cen.eu:en16931:2017:conformant:factur-x.eu:1p0:extended" => {
                return Specification::FacturX(FacturXProfile::Extended);
            }
            // ZUGFeRD 2.0 wrote the EN 16931 profile this way (`facturx/validV2PDF.pdf`).
            "urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:en16931" => {
                return Specification::En16931;
            }
            _ => {}
        }
        if let Some(rest) = id.strip_prefix("urn:ferd:CrossIndustryDocument:invoice:1p0:") {
            return Specification::Zugferd1(match rest {
                "basic" => Zugferd1Profile::Basic,
                "comfort" => Zugferd1Profile::Comfort,
                "extended" => Zugferd1Profile::Extended,
                _ => Zugferd1Profile::Other,
            });
        }
        if id.starts_with("urn:oasis:names:specification:ubl:xpath:") && id.contains("-2.0") {
            return Specification::Ubl20;
        }
        if let Some(x) = xrechnung(id) {
            return x;
        }
        // An extension of NLCIUS, such as the Dutch energy sector's SEeF
        // (`…nlcius:v1.0#conformant#urn:fdc:energie-efactuur.nl:invoice:v3.1`), is SI-UBL: the
        // official SI-UBL artefact applies its rules to every identifier that contains the
        // NLCIUS one (`contains($customizationID, '#compliant#urn:fdc:nen.nl:nlcius:v1.0')`).
        if id.contains("#compliant#urn:fdc:nen.nl:nlcius:v1.0") {
            return if id.contains("#conformant#urn:fdc:nen.nl:gaccount:v1.0") {
                Specification::SiUbl2GAccount
            } else {
                Specification::SiUbl2
            };
        }
        // An identifier that extends Peppol BIS 3's (or carries it with a suffix) gets the Peppol
        // artefact, as the answer key chooses it (`'peppol.eu:2017:poacc:billing:3.0' in id`);
        // PEPPOL-EN16931-R004 then says what is wrong with it.
        if id.contains("peppol.eu:2017:poacc:selfbilling:3.0") {
            return Specification::PeppolSelfBilling;
        }
        if id.contains("peppol.eu:2017:poacc:billing:3.0") {
            return Specification::PeppolBis3;
        }
        Specification::Other
    }

    /// A stable short name for configuration and logs, e.g. `si-ubl-2.0`, `xrechnung-3.0`.
    pub fn id(&self) -> String {
        match self {
            Specification::En16931 => "en16931".into(),
            Specification::PeppolBis3 => "peppol-bis-3".into(),
            Specification::PeppolSelfBilling => "peppol-self-billing-3".into(),
            Specification::SiUbl2 => "si-ubl-2.0".into(),
            Specification::SiUbl2GAccount => "si-ubl-2.0-gaccount".into(),
            Specification::XRechnung {
                major,
                minor,
                flavour,
            } => format!("xrechnung-{major}.{minor}{}", flavour.suffixes().0),
            Specification::FacturX(p) => match p {
                FacturXProfile::Minimum => "factur-x-minimum".into(),
                FacturXProfile::BasicWl => "factur-x-basic-wl".into(),
                FacturXProfile::Basic => "factur-x-basic".into(),
                FacturXProfile::Extended => "factur-x-extended".into(),
            },
            Specification::Zugferd1(p) => match p {
                Zugferd1Profile::Basic => "zugferd-1-basic".into(),
                Zugferd1Profile::Comfort => "zugferd-1-comfort".into(),
                Zugferd1Profile::Extended => "zugferd-1-extended".into(),
                Zugferd1Profile::Other => "zugferd-1".into(),
            },
            Specification::Ubl20 => "ubl-2.0".into(),
            Specification::Other => "other".into(),
            Specification::Missing => "none".into(),
        }
    }

    /// Human name, e.g. `SI-UBL 2.0 (NLCIUS)`.
    pub fn name(&self) -> String {
        match self {
            Specification::En16931 => "EN 16931".into(),
            Specification::PeppolBis3 => "Peppol BIS Billing 3.0".into(),
            Specification::PeppolSelfBilling => "Peppol BIS Self-Billing 3.0".into(),
            Specification::SiUbl2 => "SI-UBL 2.0 (NLCIUS)".into(),
            Specification::SiUbl2GAccount => "SI-UBL 2.0 (NLCIUS) with G-account".into(),
            Specification::XRechnung {
                major,
                minor,
                flavour,
            } => format!("XRechnung {major}.{minor}{}", flavour.suffixes().1),
            Specification::FacturX(p) => match p {
                FacturXProfile::Minimum => "Factur-X MINIMUM".into(),
                FacturXProfile::BasicWl => "Factur-X BASIC WL".into(),
                FacturXProfile::Basic => "Factur-X BASIC".into(),
                FacturXProfile::Extended => "Factur-X EXTENDED".into(),
            },
            Specification::Zugferd1(p) => match p {
                Zugferd1Profile::Basic => "ZUGFeRD 1.0 BASIC".into(),
                Zugferd1Profile::Comfort => "ZUGFeRD 1.0 COMFORT".into(),
                Zugferd1Profile::Extended => "ZUGFeRD 1.0 EXTENDED".into(),
                Zugferd1Profile::Other => "ZUGFeRD 1.0".into(),
            },
            Specification::Ubl20 => "UBL 2.0".into(),
            Specification::Other => "unknown specification".into(),
            Specification::Missing => "no specification identifier".into(),
        }
    }

    /// Every specification but XRechnung's, which has a version of its own: what a table of
    /// names or ids walks.
    pub fn every_unversioned() -> Vec<Specification> {
        let mut all = vec![
            Specification::En16931,
            Specification::PeppolBis3,
            Specification::PeppolSelfBilling,
            Specification::SiUbl2,
            Specification::SiUbl2GAccount,
            Specification::Ubl20,
            Specification::Other,
            Specification::Missing,
        ];
        all.extend(
            [
                FacturXProfile::Minimum,
                FacturXProfile::BasicWl,
                FacturXProfile::Basic,
                FacturXProfile::Extended,
            ]
            .map(Specification::FacturX),
        );
        all.extend(
            [
                Zugferd1Profile::Basic,
                Zugferd1Profile::Comfort,
                Zugferd1Profile::Extended,
                Zugferd1Profile::Other,
            ]
            .map(Specification::Zugferd1),
        );
        all
    }

    /// The id of a specification as an older trustgate stored it (its display name, e.g.
    /// `SI-UBL 2.0 (NLCIUS)`), or `stored` itself when it is already an id: records written
    /// before the names were made one read with today's names.
    pub fn id_of_stored(stored: &str) -> String {
        if let Some(found) = Specification::every_unversioned()
            .iter()
            .find(|s| s.name() == stored)
        {
            return found.id();
        }
        // `XRechnung 3.0`, `XRechnung 2.3 Extension`, `XRechnung 3.0 CVD`.
        if let Some(rest) = stored.strip_prefix("XRechnung ") {
            for flavour in [XRechnungFlavour::Extension, XRechnungFlavour::Cvd] {
                let (id, name) = flavour.suffixes();
                if let Some(version) = rest.strip_suffix(name) {
                    return format!("xrechnung-{version}{id}");
                }
            }
            return format!("xrechnung-{rest}");
        }
        stored.to_string()
    }

    /// Whether the Dutch NLCIUS rules (BR-NL-*) apply: the SI-UBL schematron compares the whole
    /// normalised identifier with exactly these two strings.
    pub(crate) fn is_nlcius(&self) -> bool {
        matches!(self, Specification::SiUbl2 | Specification::SiUbl2GAccount)
    }

    /// Whether EN 16931 is not met by design (Factur-X MINIMUM and BASIC WL): EN 16931 findings
    /// are then reported as warnings.
    pub(crate) fn below_en16931(&self) -> bool {
        matches!(
            self,
            Specification::FacturX(FacturXProfile::Minimum | FacturXProfile::BasicWl)
        )
    }
}

/// `...xrechnung_3.0`, `...xrechnung_2.3`, `...:kosit:standard:xrechnung_1.2`, with an optional
/// `#conformant#urn:xeinkauf.de:kosit:extension:xrechnung_3.0` (extension) or
/// `#compliant#urn:xeinkauf.de:kosit:xrechnung:cvd_0.9` (Clean Vehicles Directive) suffix.
fn xrechnung(id: &str) -> Option<Specification> {
    const CVD: &str = "#compliant#urn:xeinkauf.de:kosit:xrechnung:cvd_";
    let (core, ext) = match id.split_once("#conformant#") {
        Some((core, ext)) => (core, Some(ext)),
        None => (id, None),
    };
    let (core, cvd) = match core.split_once(CVD) {
        Some((core, _version)) if ext.is_none() => (core, true),
        _ => (core, false),
    };
    let core_ok = core
        .starts_with("urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_")
        || core
            .starts_with("urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung_");
    if !core_ok {
        return None;
    }
    let (_, version) = core.rsplit_once("xrechnung_")?;
    let (major, minor) = version.split_once('.')?;
    let major: u8 = major.parse().ok()?;
    let minor: u8 = minor.parse().ok()?;
    let flavour = match ext {
        None if cvd => XRechnungFlavour::Cvd,
        None => XRechnungFlavour::Cius,
        Some(e) if e.contains("kosit:extension:xrechnung_") => XRechnungFlavour::Extension,
        Some(_) => return None,
    };
    Some(Specification::XRechnung {
        major,
        minor,
        flavour,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn serialised_as_the_config_value_and_old_names_read_as_it() {
        use super::*;
        assert_eq!(
            serde_json::to_value(Specification::SiUbl2).unwrap(),
            serde_json::json!("si-ubl-2.0")
        );
        let x = Specification::XRechnung {
            major: 2,
            minor: 3,
            flavour: XRechnungFlavour::Extension,
        };
        assert_eq!(
            serde_json::to_value(x).unwrap(),
            serde_json::json!("xrechnung-2.3-extension")
        );
        assert_eq!(
            Specification::id_of_stored(&x.name()),
            "xrechnung-2.3-extension"
        );
        assert_eq!(
            Specification::id_of_stored("SI-UBL 2.0 (NLCIUS)"),
            "si-ubl-2.0"
        );
        assert_eq!(
            Specification::id_of_stored("Factur-X BASIC WL"),
            "factur-x-basic-wl"
        );
        assert_eq!(Specification::id_of_stored("peppol-bis-3"), "peppol-bis-3");
    }

    use super::*;

    #[test]
    fn an_nlcius_extension_is_si_ubl() {
        let seef = "urn:cen.eu:en16931:2017#compliant#urn:fdc:nen.nl:nlcius:v1.0#conformant#urn:fdc:energie-efactuur.nl:invoice:v3.1";
        assert_eq!(Specification::from_id(Some(seef)), Specification::SiUbl2);
        let gaccount_extension = "urn:cen.eu:en16931:2017#compliant#urn:fdc:nen.nl:nlcius:v1.0#conformant#urn:fdc:nen.nl:gaccount:v1.0#conformant#urn:example:more";
        assert_eq!(
            Specification::from_id(Some(gaccount_extension)),
            Specification::SiUbl2GAccount
        );
        assert_eq!(
            Specification::from_id(Some("urn:fdc:nen.nl:nlcius:v1.0")),
            Specification::Other
        );
    }

    #[test]
    fn identifiers_from_the_corpus() {
        let cases = [
            ("urn:cen.eu:en16931:2017", Specification::En16931),
            (
                "\n   urn:cen.eu:en16931:2017#compliant#urn:fdc:nen.nl:nlcius:v1.0\n  ",
                Specification::SiUbl2,
            ),
            (NLCIUS_GACCOUNT, Specification::SiUbl2GAccount),
            (
                "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0",
                Specification::PeppolBis3,
            ),
            (
                "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:selfbilling:3.0",
                Specification::PeppolSelfBilling,
            ),
            (
                "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
                Specification::XRechnung {
                    major: 3,
                    minor: 0,
                    flavour: XRechnungFlavour::Cius,
                },
            ),
            (
                "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0#conformant#urn:xeinkauf.de:kosit:extension:xrechnung_3.0",
                Specification::XRechnung {
                    major: 3,
                    minor: 0,
                    flavour: XRechnungFlavour::Extension,
                },
            ),
            (
                "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0#compliant#urn:xeinkauf.de:kosit:xrechnung:cvd_0.9",
                Specification::XRechnung {
                    major: 3,
                    minor: 0,
                    flavour: XRechnungFlavour::Cvd,
                },
            ),
            (
                "urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung_1.2",
                Specification::XRechnung {
                    major: 1,
                    minor: 2,
                    flavour: XRechnungFlavour::Cius,
                },
            ),
            (
                "urn:factur-x.eu:1p0:minimum",
                Specification::FacturX(FacturXProfile::Minimum),
            ),
            (
                "urn:factur-x.eu:1p0:basicwl",
                Specification::FacturX(FacturXProfile::BasicWl),
            ),
            (
                "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
                Specification::FacturX(FacturXProfile::Extended),
            ),
            (
                "urn:ferd:CrossIndustryDocument:invoice:1p0:comfort",
                Specification::Zugferd1(Zugferd1Profile::Comfort),
            ),
            (
                "urn:oasis:names:specification:ubl:xpath:Invoice-2.0:sbs-1.0-draft",
                Specification::Ubl20,
            ),
            ("urn:example:something", Specification::Other),
        ];
        for (id, want) in cases {
            assert_eq!(Specification::from_id(Some(id)), want, "{id}");
        }
        assert_eq!(Specification::from_id(None), Specification::Missing);
        assert_eq!(Specification::from_id(Some("  ")), Specification::Missing);
    }

    #[test]
    fn prefixes_alone_are_not_enough() {
        assert_eq!(
            Specification::from_id(Some(
                "urn:cen.eu:en16931:2017#compliant#urn:fdc:nen.nl:nlcius:v1.1"
            )),
            Specification::Other
        );
        assert!(!Specification::Other.is_nlcius());
        assert_eq!(
            Specification::XRechnung {
                major: 3,
                minor: 0,
                flavour: XRechnungFlavour::Extension
            }
            .id(),
            "xrechnung-3.0-extension"
        );
    }
}
