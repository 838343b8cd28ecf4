//! JSON: one array of row objects, streamed (`[` first, rows as they come, `]` last). Keys are
//! English and values are the codes a program wants (`status: "checked_in"`), each code next
//! to the Chinese word a person reads (`status_label: "已报到"`), so a client can show the
//! ledger as the CSV and XLSX do without a table of its own.

use std::io;

use serde::Serialize;

use super::body::Encoder;
use super::rows::{LedgerRow, Places};
use hongyan_domain::words;

/// One row of the JSON ledger: section 3's columns under English names.
#[derive(Serialize)]
struct JsonRow<'a> {
    member_id: &'a str,
    name: &'a str,
    phone: &'a str,
    phone_masked: bool,
    branch_id: &'a str,
    branch: &'a str,
    left_on: Option<chrono::NaiveDate>,
    reason: Option<&'static str>,
    reason_label: Option<&'static str>,
    region_code: &'a str,
    place: &'a str,
    address: &'a str,
    employer: Option<&'a str>,
    employer_type: &'static str,
    employer_type_label: &'static str,
    inflow_org_id: Option<&'a str>,
    inflow_org: Option<&'a str>,
    inflow_contact: Option<&'a str>,
    inflow_contact_phone: Option<&'a str>,
    certificate_no: Option<&'a str>,
    status: &'static str,
    status_label: &'static str,
    last_confirmed_on: Option<chrono::NaiveDate>,
    months_unconfirmed: u32,
    last_talk: Option<chrono::NaiveDate>,
    last_family_visit: Option<chrono::NaiveDate>,
    flags: Vec<&'a str>,
    flags_label: Vec<&'a str>,
    transfer_suggested: bool,
    version: i64,
}

pub struct Json {
    out: Vec<u8>,
    first: bool,
    places: Places,
}

impl Json {
    pub fn new() -> Self {
        Self {
            out: Vec::with_capacity(80 * 1024),
            first: true,
            places: Places::default(),
        }
    }
}

impl Encoder for Json {
    fn begin(&mut self) -> io::Result<()> {
        self.out.push(b'[');
        Ok(())
    }

    fn row(&mut self, r: &LedgerRow) -> io::Result<()> {
        let phone = r.phone(&r.phone);
        let contact_phone = r.inflow_contact.as_ref().map(|c| r.phone(&c.phone));
        let place = self.places.name(&r.region_code);
        let json = JsonRow {
            member_id: &r.member_id,
            name: &r.member_name,
            phone: &phone,
            phone_masked: !r.sees_phones,
            branch_id: &r.home_org_id,
            branch: &r.branch_name,
            left_on: r.left_on,
            reason: r.reason.map(|x| x.as_str()),
            reason_label: r.reason.map(words::reason),
            region_code: &r.region_code,
            place: &place,
            address: &r.address,
            employer: r.employer.as_deref(),
            employer_type: r.employer_type.as_str(),
            employer_type_label: words::employer_type(r.employer_type),
            inflow_org_id: r.inflow_org_id.as_deref(),
            inflow_org: r.inflow_org_name.as_deref(),
            inflow_contact: r.inflow_contact.as_ref().map(|c| c.name.as_str()),
            inflow_contact_phone: contact_phone.as_deref(),
            certificate_no: r.certificate_no.as_deref(),
            status: r.status.as_str(),
            status_label: words::status(r.status),
            last_confirmed_on: r.last_confirmed_on,
            months_unconfirmed: r.months_unconfirmed,
            last_talk: r.last_talk,
            last_family_visit: r.last_family_visit,
            flags: r.flags.iter().map(String::as_str).collect(),
            flags_label: r.flag_words(),
            transfer_suggested: r.transfer_suggested,
            version: r.version,
        };
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        serde_json::to_writer(&mut self.out, &json).map_err(io::Error::other)
    }

    fn end(&mut self) -> io::Result<()> {
        self.out.extend_from_slice(b"]\n");
        Ok(())
    }

    fn pending(&self) -> usize {
        self.out.len()
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.out, Vec::with_capacity(80 * 1024))
    }
}
