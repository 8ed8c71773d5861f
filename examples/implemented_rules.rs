//! Prints the official rule ids trustgate checks, one per line, for
//! `python3 scripts/rule_catalogue.py --stats --implemented -` (docs/rules.md's table):
//!
//!     cargo run -q --example implemented_rules | python3 scripts/rule_catalogue.py --stats --implemented -

fn main() {
    for id in trustgate::invoice::implemented_rules() {
        println!("{id}");
    }
}
