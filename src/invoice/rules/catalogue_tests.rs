//! Hand-written checks of the generated rule catalogue: real rules come out with their official
//! flag, text and layers, and the table keeps the invariants `lookup` relies on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::catalogue::{Flag, Official, RULES, layer, layer_rules, lookup};

fn rule(id: &str, in_layer: u16) -> &'static Official {
    let found = lookup(id, in_layer).expect(id);
    assert!(
        found.layers & in_layer != 0,
        "{id} not in layer {in_layer:#x}: {found:?}"
    );
    found
}

#[test]
fn known_rules_have_their_official_flag_text_and_layers() {
    let br16 = rule("BR-16", layer::EN16931_UBL);
    assert_eq!(br16.flag, Flag::Fatal);
    assert_eq!(
        br16.text,
        "An Invoice shall have at least one Invoice line (BG-25)"
    );
    // The NL artefacts embed the EN 16931 rules with the same text.
    assert!(br16.layers & layer::SI_UBL_2_0 != 0);
    // CII states it with a full stop: a variant of its own.
    let cii = rule("BR-16", layer::EN16931_CII);
    assert_eq!(
        cii.text,
        "An Invoice shall have at least one Invoice line (BG-25)."
    );

    let nl1 = rule("BR-NL-1", layer::SI_UBL_2_0);
    assert_eq!(nl1.flag, Flag::Fatal);
    assert!(
        nl1.text
            .starts_with("For suppliers in the Netherlands the supplier MUST provide")
    );

    let r001 = rule("PEPPOL-EN16931-R001", layer::PEPPOL_BIS3_UBL);
    assert_eq!(r001.text, "Business process MUST be provided.");
    assert!(r001.layers & layer::XRECHNUNG_CII != 0, "{r001:?}");
    assert!(lookup("NO-SUCH-RULE", layer::EN16931_UBL).is_none());
}

#[test]
fn lookup_picks_the_variant_of_the_layer_asked_for() {
    // BR-51 is a warning in UBL and fatal in CII.
    assert_eq!(rule("BR-51", layer::EN16931_UBL).flag, Flag::Warning);
    assert_eq!(rule("BR-51", layer::EN16931_CII).flag, Flag::Fatal);
    // A layer without the rule still gets the first entry with that id.
    let other = lookup("BR-51", layer::PEPPOL_BIS3_UBL).expect("BR-51");
    assert_eq!(other.id, "BR-51");
    assert_eq!(other.layers & layer::PEPPOL_BIS3_UBL, 0);
    // XRechnung's one information rule.
    assert!(layer_rules(layer::XRECHNUNG_UBL).any(|r| r.flag == Flag::Information));
}

#[test]
fn rules_are_sorted_with_texts_and_layers() {
    assert!(
        RULES.windows(2).all(|w| w[0].id <= w[1].id),
        "RULES not sorted by id"
    );
    for r in RULES {
        assert!(!r.text.trim().is_empty(), "{} has an empty text", r.id);
        assert!(
            !r.text.starts_with(&format!("[{}]", r.id)),
            "{}: {}",
            r.id,
            r.text
        );
        assert!(
            r.layers != 0 && r.layers < 1 << 9,
            "{}: layers {:#x}",
            r.id,
            r.layers
        );
    }
    for bit in 0..9 {
        assert!(
            layer_rules(1 << bit).count() > 50,
            "layer bit {bit} has few rules"
        );
    }
}
