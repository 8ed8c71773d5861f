//! Table-driven tests of `trustgate::invoice` over the invoice corpus fixtures.
#![allow(clippy::unwrap_used)]

use trustgate::invoice::{Detection, inspect};

#[test]
fn corpus_smoke() {
    let mut n = 0;
    for dir in [
        "ubl",
        "cii",
        "si-ubl",
        "peppol-bis3",
        "xrechnung",
        "invalid",
    ] {
        let d = format!("/work/shared/corpus/invoices/{dir}");
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.extension()
                .and_then(|x| x.to_str())
                .map(|x| x.eq_ignore_ascii_case("xml"))
                != Some(true)
            {
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            match inspect(&bytes) {
                Detection::Invoice(i) => {
                    println!("{}: {:?} {:?}", p.display(), i.syntax, i.invoice_number)
                }
                other => println!("{}: {:?}", p.display(), other),
            }
            n += 1;
        }
    }
    assert!(n > 0);
}
