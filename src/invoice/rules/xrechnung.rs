//! XRechnung (KoSIT) rules we check: only BR-DE-2 so far, the one the corpus' invalid
//! XRechnung breaks. The other BR-DE rules need code lists or are not implemented yet.

use super::super::model::Doc;
use super::{Finding, fatal};

pub(super) fn check(doc: &Doc, out: &mut Vec<Finding>) {
    // BR-DE-2: The group SELLER CONTACT (BG-6) shall be transmitted.
    if !doc.seller.contact {
        out.push(fatal(
            "BR-DE-2",
            "XRechnung requires the seller contact group (BG-6: UBL cac:AccountingSupplierParty/cac:Party/cac:Contact, CII SellerTradeParty/DefinedTradeContact); add the seller's contact",
        ));
    }
}
