//! Prints the official rule ids trustgate checks, one per line with the artefacts whose
//! documents it checks each for, for `python3 scripts/rule_catalogue.py --stats --implemented -`
//! (docs/rules.md's table):
//!
//!     cargo run -q --example implemented_rules | python3 scripts/rule_catalogue.py --stats --implemented -

fn main() {
    for (id, artefacts) in trustgate::invoice::implemented_in() {
        println!("{id} {}", artefacts.join(","));
    }
}
