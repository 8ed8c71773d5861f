//! Generators of hostile PDFs, written for trustgate's tests: object-stream bombs, object
//! streams of many tiny objects, many large embedded files, deep and cyclic name trees.
//!
//! Shared by the unit tests of `invoice::facturx` (included with `#[path]`), the proptest in
//! `tests/invoice_corpus.rs` and the end-to-end test `tests/hostile_pdf.rs`, so every layer is
//! tested against the same files. Compression goes through lopdf's own encoder, so no extra
//! dependency is needed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

/// zlib-compresses `data` (what `/FlateDecode` reads), for the bombs: their data is
/// repetitive, so it always shrinks.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let (z, compressed) = try_deflate(data);
    assert!(
        compressed,
        "test data did not compress; pick more repetitive content"
    );
    z
}

/// `data` zlib-compressed and `true`, or as it is and `false` when compressing would not
/// shrink it (lopdf's encoder declines then).
fn try_deflate(data: &[u8]) -> (Vec<u8>, bool) {
    let mut s = lopdf::Stream::new(lopdf::Dictionary::new(), data.to_vec());
    s.compress().unwrap();
    let compressed = s.dict.has(b"Filter");
    (s.content, compressed)
}

/// Where each object of a file being written lives (for the cross-reference section).
#[derive(Clone, Copy)]
enum Entry {
    Normal(usize),
    Compressed { container: u32, index: u32 },
}

/// A minimal PDF writer: objects, streams and object streams in order, then a classic
/// cross-reference table or a cross-reference stream.
pub struct PdfWriter {
    out: Vec<u8>,
    entries: Vec<(u32, Entry)>,
}

impl Default for PdfWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl PdfWriter {
    pub fn new() -> PdfWriter {
        PdfWriter {
            out: b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec(),
            entries: Vec::new(),
        }
    }

    /// `id 0 obj BODY endobj`.
    pub fn object(&mut self, id: u32, body: &str) -> &mut Self {
        self.entries.push((id, Entry::Normal(self.out.len())));
        self.out
            .extend_from_slice(format!("{id} 0 obj\n{body}\nendobj\n").as_bytes());
        self
    }

    /// A stream whose `data` is written as given (already encoded); `dict` is the rest of its
    /// dictionary (e.g. `/Filter /FlateDecode`).
    pub fn raw_stream(&mut self, id: u32, dict: &str, data: &[u8]) -> &mut Self {
        self.entries.push((id, Entry::Normal(self.out.len())));
        self.out.extend_from_slice(
            format!("{id} 0 obj\n<< {dict} /Length {} >>\nstream\n", data.len()).as_bytes(),
        );
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\nendstream\nendobj\n");
        self
    }

    /// A FlateDecode stream of `data` (unfiltered when `data` does not compress).
    pub fn flate_stream(&mut self, id: u32, dict: &str, data: &[u8]) -> &mut Self {
        match try_deflate(data) {
            (z, true) => self.raw_stream(id, &format!("{dict} /Filter /FlateDecode"), &z),
            (raw, false) => self.raw_stream(id, dict, &raw),
        }
    }

    /// An object stream `id` holding `members` (object number, body).
    pub fn object_stream(&mut self, id: u32, members: &[(u32, &[u8])]) -> &mut Self {
        let mut index = String::new();
        let mut body = Vec::new();
        for (n, (num, member)) in members.iter().enumerate() {
            let _ = write!(index, "{num} {} ", body.len());
            body.extend_from_slice(member);
            body.push(b'\n');
            self.entries.push((
                *num,
                Entry::Compressed {
                    container: id,
                    index: n as u32,
                },
            ));
        }
        let first = index.len();
        let mut data = index.into_bytes();
        data.extend_from_slice(&body);
        self.flate_stream(
            id,
            &format!("/Type /ObjStm /N {} /First {first}", members.len()),
            &data,
        )
    }

    /// An object stream `id` whose content is already compressed (`z`, FlateDecode), written
    /// as given: lets a test write one large compressed stream many times without compressing
    /// it again. `n` and `first` are its /N and /First.
    pub fn precompressed_object_stream(&mut self, id: u32, n: usize, first: usize, z: &[u8]) {
        self.raw_stream(
            id,
            &format!("/Type /ObjStm /N {n} /First {first} /Filter /FlateDecode"),
            z,
        );
    }

    /// Lists object `num` as member `index` of object stream `container` in the
    /// cross-reference stream (for a stream written with `precompressed_object_stream`).
    pub fn record_compressed(&mut self, num: u32, container: u32, index: u32) -> &mut Self {
        self.entries
            .push((num, Entry::Compressed { container, index }));
        self
    }

    /// Ends the file with a classic `xref` table (object streams' members are not listed: a
    /// reader finds them only by loading every object stream, as lopdf does).
    pub fn finish_with_table(mut self, root: u32) -> Vec<u8> {
        let mut normal: Vec<(u32, usize)> = self
            .entries
            .iter()
            .filter_map(|(id, e)| match e {
                Entry::Normal(off) => Some((*id, *off)),
                Entry::Compressed { .. } => None,
            })
            .collect();
        normal.sort();
        let size = normal.last().map_or(1, |(id, _)| id + 1);
        let xref_at = self.out.len();
        let mut t = String::from("xref\n0 1\n0000000000 65535 f \n");
        for (id, off) in &normal {
            let _ = write!(t, "{id} 1\n{off:010} 00000 n \n");
        }
        let _ = write!(
            t,
            "trailer\n<< /Size {size} /Root {root} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n"
        );
        self.out.extend_from_slice(t.as_bytes());
        self.out
    }

    /// Ends the file with a cross-reference stream (object `xref_id`) listing every object,
    /// compressed ones included.
    pub fn finish_with_stream(mut self, root: u32, xref_id: u32) -> Vec<u8> {
        let xref_at = self.out.len();
        let mut entries = self.entries.clone();
        entries.push((xref_id, Entry::Normal(xref_at)));
        entries.sort_by_key(|(id, _)| *id);
        let mut data = Vec::new();
        let mut index = String::new();
        for (id, e) in &entries {
            let _ = write!(index, "{id} 1 ");
            match *e {
                Entry::Normal(off) => {
                    data.push(1);
                    data.extend_from_slice(&(off as u32).to_be_bytes());
                    data.extend_from_slice(&0u16.to_be_bytes());
                }
                Entry::Compressed { container, index } => {
                    data.push(2);
                    data.extend_from_slice(&container.to_be_bytes());
                    data.extend_from_slice(&(index as u16).to_be_bytes());
                }
            }
        }
        let size = entries.last().map_or(1, |(id, _)| id + 1);
        self.out.extend_from_slice(
            format!(
                "{xref_id} 0 obj\n<< /Type /XRef /Size {size} /Root {root} 0 R /W [1 4 2] /Index [{index}] /Length {} >>\nstream\n",
                data.len()
            )
            .as_bytes(),
        );
        self.out.extend_from_slice(&data);
        self.out.extend_from_slice(
            format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes(),
        );
        self.out
    }
}

/// A catalog (object 1) and an empty page tree (object 2) with `catalog_extra` in the catalog.
fn catalog(w: &mut PdfWriter, catalog_extra: &str) {
    w.object(
        1,
        &format!("<< /Type /Catalog /Pages 2 0 R {catalog_extra} >>"),
    );
    w.object(2, "<< /Type /Pages /Kids [] /Count 0 >>");
}

/// An object-stream bomb: `streams` object streams, each decompressing to about
/// `bytes_each` bytes (one string member of that length), the same compressed bytes written
/// again and again, so the file is about `streams × bytes_each / 1000` bytes. None of the
/// members is reachable from the catalog. A loader that decompresses every object stream holds
/// `streams × bytes_each` bytes.
pub fn object_stream_bomb(streams: usize, bytes_each: usize) -> Vec<u8> {
    let mut w = PdfWriter::new();
    catalog(&mut w, "");
    // Every stream holds object 3 (a reader keeps one copy; loading decompresses all).
    let index = "3 0 ";
    let mut data = index.as_bytes().to_vec();
    data.push(b'(');
    data.resize(bytes_each.saturating_sub(1).max(data.len()), b'a');
    data.push(b')');
    let z = deflate(&data);
    for i in 0..streams {
        w.precompressed_object_stream(10 + i as u32, 1, index.len(), &z);
    }
    w.finish_with_table(1)
}

/// An object stream listing `objects` tiny members (all `null`), in one stream whose index
/// alone is most of its content. The catalog is not in it.
pub fn many_tiny_objects(objects: usize) -> Vec<u8> {
    let mut w = PdfWriter::new();
    catalog(&mut w, "");
    let mut index = String::with_capacity(objects * 12);
    for i in 0..objects {
        let _ = write!(index, "{} 0 ", 100 + i);
    }
    let first = index.len();
    let mut data = index.into_bytes();
    data.extend_from_slice(b"null");
    let z = deflate(&data);
    w.precompressed_object_stream(10, objects, first, &z);
    w.finish_with_table(1)
}

/// A Factur-X-like PDF whose `/EmbeddedFiles` name tree lists `files` file specifications
/// named `factur-x.xml`, each with its own FlateDecode stream that decompresses to
/// `bytes_each` bytes of XML-ish padding.
pub fn many_large_embedded_files(files: usize, bytes_each: usize) -> Vec<u8> {
    let mut w = PdfWriter::new();
    let mut names = String::new();
    let mut payload = b"<?xml version=\"1.0\"?><x>".to_vec();
    payload.resize(bytes_each.saturating_sub(4).max(payload.len()), b' ');
    payload.extend_from_slice(b"</x>");
    let z = deflate(&payload);
    for i in 0..files as u32 {
        let spec = 100 + 2 * i;
        let _ = write!(names, "(f{i}) {spec} 0 R ");
        w.object(
            spec,
            &format!(
                "<< /Type /Filespec /F (factur-x.xml) /UF (factur-x.xml) /EF << /F {} 0 R >> >>",
                spec + 1
            ),
        );
        w.raw_stream(
            spec + 1,
            "/Type /EmbeddedFile /Subtype /text#2Fxml /Filter /FlateDecode",
            &z,
        );
    }
    w.object(3, &format!("<< /Names [{names}] >>"));
    catalog(&mut w, "/Names << /EmbeddedFiles 3 0 R >>");
    w.finish_with_table(1)
}

/// A name tree `depth` levels deep: each node's `/Kids` holds the next node.
pub fn deep_name_tree(depth: u32) -> Vec<u8> {
    let mut w = PdfWriter::new();
    for d in 0..depth {
        let id = 100 + d;
        if d + 1 < depth {
            w.object(id, &format!("<< /Kids [{} 0 R] >>", id + 1));
        } else {
            w.object(id, "<< /Names [] >>");
        }
    }
    catalog(&mut w, "/Names << /EmbeddedFiles 100 0 R >>");
    w.finish_with_table(1)
}

/// A name tree whose nodes are their own kids, twice over (a cycle and a fan-out).
pub fn cyclic_name_tree() -> Vec<u8> {
    let mut w = PdfWriter::new();
    w.object(100, "<< /Kids [100 0 R 101 0 R 100 0 R] >>");
    w.object(101, "<< /Kids [100 0 R 101 0 R] /Names [(a) 102 0 R] >>");
    w.object(102, "<< /F (factur-x.xml) /EF << /F 102 0 R >> >>");
    catalog(&mut w, "/Names << /EmbeddedFiles 100 0 R >>");
    w.finish_with_table(1)
}

/// A name tree whose `/Kids` fan out: `width` kids per node, `depth` levels, all pointing at
/// the same next-level node (a DAG that a naive walk visits `width^depth` times).
pub fn fan_out_name_tree(width: usize, depth: u32) -> Vec<u8> {
    let mut w = PdfWriter::new();
    for d in 0..depth {
        let id = 100 + d;
        let kids = format!("{} 0 R ", id + 1).repeat(width);
        w.object(id, &format!("<< /Kids [{kids}] >>"));
    }
    w.object(100 + depth, "<< /Names [] >>");
    catalog(&mut w, "/Names << /EmbeddedFiles 100 0 R >>");
    w.finish_with_table(1)
}

/// A small valid hybrid PDF: `factur-x.xml` holding `xml`, with the catalog, the name tree and
/// the file specification in an object stream and a cross-reference stream (the layout of
/// PDF 1.5+ producers).
pub fn facturx_in_object_stream(xml: &[u8]) -> Vec<u8> {
    let mut w = PdfWriter::new();
    w.flate_stream(20, "/Type /EmbeddedFile /Subtype /text#2Fxml", xml);
    w.object_stream(
        10,
        &[
            (
                1,
                b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles 3 0 R >> /AF [4 0 R] >>",
            ),
            (2, b"<< /Type /Pages /Kids [] /Count 0 >>"),
            (3, b"<< /Names [(factur-x.xml) 4 0 R] >>"),
            (
                4,
                b"<< /Type /Filespec /F (factur-x.xml) /UF (factur-x.xml) /AFRelationship /Data /EF << /F 20 0 R /UF 20 0 R >> >>",
            ),
        ],
    );
    w.finish_with_stream(1, 30)
}

/// The catalog inside an object stream that also carries `padding` bytes of filler: to find
/// the catalog a reader must decompress the whole stream. `streams` such streams hold the
/// catalog, the page tree, the name tree and the file specification one each, so the search
/// itself needs all of them.
pub fn needed_object_streams_bomb(padding: usize) -> Vec<u8> {
    let mut w = PdfWriter::new();
    let members: [(u32, &[u8]); 4] = [
        (
            1,
            b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles 3 0 R >> >>",
        ),
        (2, b"<< /Type /Pages /Kids [] /Count 0 >>"),
        (3, b"<< /Names [(factur-x.xml) 4 0 R] >>"),
        (4, b"<< /F (factur-x.xml) /EF << /F 5 0 R >> >>"),
    ];
    for (k, (num, body)) in members.iter().enumerate() {
        let mut member = body.to_vec();
        member.resize(padding.max(member.len()), b' ');
        w.object_stream(10 + k as u32, &[(*num, &member)]);
    }
    w.flate_stream(5, "/Type /EmbeddedFile", b"<x/>");
    w.finish_with_stream(1, 30)
}

/// The catalog as the first member of an object stream whose index lists `objects` more
/// members: to reach the catalog a reader must read that index.
pub fn catalog_among_tiny_objects(objects: usize) -> Vec<u8> {
    let mut w = PdfWriter::new();
    let catalog = b"<< /Type /Catalog /Pages 2 0 R >>\n";
    let mut index = String::from("1 0 ");
    for i in 0..objects {
        let _ = write!(index, "{} {} ", 100 + i, catalog.len());
    }
    let first = index.len();
    let mut data = index.into_bytes();
    data.extend_from_slice(catalog);
    data.extend_from_slice(b"null");
    w.object(2, "<< /Type /Pages /Kids [] /Count 0 >>");
    w.precompressed_object_stream(10, objects + 1, first, &deflate(&data));
    w.record_compressed(1, 10, 0);
    w.finish_with_stream(1, 30)
}

/// A cross-reference stream of `entries` entries (all in an object stream that does not
/// exist), beside a normal catalog.
pub fn many_xref_entries(entries: u32) -> Vec<u8> {
    let mut w = PdfWriter::new();
    catalog(&mut w, "");
    for i in 0..entries {
        w.record_compressed(100 + i, 10, i);
    }
    w.finish_with_stream(1, 30)
}

/// A catalog holding an array of `values` integers.
pub fn huge_catalog_array(values: usize) -> Vec<u8> {
    let mut w = PdfWriter::new();
    catalog(&mut w, &format!("/Junk [{}]", "0 ".repeat(values)));
    w.finish_with_table(1)
}

/// A file specification whose name and embedded stream are fine, inside a PDF whose
/// cross-reference offsets are all wrong (shifted by junk inserted after writing): a reader
/// must find the objects by scanning.
pub fn facturx_with_broken_xref(xml: &[u8]) -> Vec<u8> {
    let pdf = facturx_in_table(xml);
    let header = b"%PDF-1.7\n";
    let mut out = header.to_vec();
    out.extend_from_slice(b"% junk that shifts every offset by a few bytes\n");
    out.extend_from_slice(&pdf[header.len()..]);
    out
}

/// A hybrid PDF with a classic table: catalog → names → file spec → FlateDecode stream.
pub fn facturx_in_table(xml: &[u8]) -> Vec<u8> {
    let mut w = PdfWriter::new();
    w.object(3, "<< /Names [(factur-x.xml) 4 0 R] >>");
    w.object(
        4,
        "<< /Type /Filespec /F (factur-x.xml) /UF (factur-x.xml) /EF << /F 5 0 R >> >>",
    );
    w.flate_stream(5, "/Type /EmbeddedFile", xml);
    catalog(&mut w, "/Names << /EmbeddedFiles 3 0 R >> /AF [4 0 R]");
    w.finish_with_table(1)
}
