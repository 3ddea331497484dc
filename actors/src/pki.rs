//! Reading PEM certificates and private keys the way Go's `crypto/tls` does (`X509KeyPair`),
//! with error messages worded as Go words them: PEM blocks, PKCS#1, PKCS#8 and SEC 1 keys,
//! and whether a key matches its certificate. Parsing only; signing is [`crate::ca`]'s.

use base64::Engine;
use x509_parser::der_parser::ber::{BerObject, BerObjectContent};
use x509_parser::der_parser::der::parse_der;
use x509_parser::der_parser::Oid;
use x509_parser::prelude::{FromDer, X509Certificate};

/// One DER certificate, with Go's message prefix (`x509: …`) on failure.
pub fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match X509Certificate::from_der(der) {
        Ok((rest, _)) if !rest.is_empty() => Err("x509: trailing data".into()),
        Ok((_, cert)) => Ok(cert),
        Err(e) => Err(format!("x509: {e}")),
    }
}

/// Go's `tls.X509KeyPair`, returning the DER of every certificate of the chain. The key must
/// be PKCS#1, PKCS#8 or SEC1 and match the first certificate's public key (RSA keys and EC
/// keys that carry their public point are compared; others are checked by type only).
pub fn x509_key_pair(cert_pem: &[u8], key_pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut certs = Vec::new();
    let mut skipped = Vec::new();
    for block in pem_blocks(cert_pem) {
        if block.label == "CERTIFICATE" {
            certs.push(block.der);
        } else {
            skipped.push(block.label);
        }
    }
    if certs.is_empty() {
        if skipped.is_empty() {
            return Err("tls: failed to find any PEM data in certificate input".into());
        }
        if skipped.len() == 1 && skipped[0].ends_with("PRIVATE KEY") {
            return Err("tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched".into());
        }
        return Err(format!(
            "tls: failed to find \"CERTIFICATE\" PEM block in certificate input after skipping PEM blocks of the following types: [{}]",
            skipped.join(" ")
        ));
    }
    let mut skipped = Vec::new();
    let mut key_der = None;
    for block in pem_blocks(key_pem) {
        if block.label == "PRIVATE KEY" || block.label.ends_with(" PRIVATE KEY") {
            key_der = Some(block.der);
            break;
        }
        skipped.push(block.label);
    }
    let Some(key_der) = key_der else {
        if skipped.is_empty() {
            return Err("tls: failed to find any PEM data in key input".into());
        }
        if skipped.len() == 1 && skipped[0] == "CERTIFICATE" {
            return Err(
                "tls: found a certificate rather than a key in the PEM for the private key".into(),
            );
        }
        return Err(format!(
            "tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key input after skipping PEM blocks of the following types: [{}]",
            skipped.join(" ")
        ));
    };
    let cert = parse_certificate(&certs[0])?;
    let key = PrivateKey::parse(&key_der).ok_or("tls: failed to parse private key")?;
    let spki = cert.public_key();
    let algorithm = spki.algorithm.algorithm.to_id_string();
    match (algorithm.as_str(), &key) {
        (OID_RSA, PrivateKey::Rsa { modulus }) => {
            let public = match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.modulus,
                _ => return Err("x509: invalid RSA public key".into()),
            };
            if strip_zeros(public) != strip_zeros(modulus) {
                return Err("tls: private key does not match public key".into());
            }
        }
        (OID_EC, PrivateKey::Ec { public }) => {
            if let Some(public) = public {
                if public.as_slice() != spki.subject_public_key.data.as_ref() {
                    return Err("tls: private key does not match public key".into());
                }
            }
        }
        (OID_ED25519, PrivateKey::Ed25519) => {}
        (OID_RSA | OID_EC | OID_ED25519, _) => {
            return Err("tls: private key type does not match public key type".into())
        }
        _ => return Err("tls: unknown public key algorithm".into()),
    }
    Ok(certs)
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
/// The curves Go's `x509` knows: P-224, P-256, P-384, P-521.
const KNOWN_CURVES: &[&str] = &[
    "1.3.132.0.33",
    "1.2.840.10045.3.1.7",
    "1.3.132.0.34",
    "1.3.132.0.35",
];

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

/// What the key-pair check needs of a private key.
enum PrivateKey {
    Rsa { modulus: Vec<u8> },
    Ec { public: Option<Vec<u8>> },
    Ed25519,
}

impl PrivateKey {
    /// Go's `parsePrivateKey`: PKCS#1, then PKCS#8, then SEC1.
    fn parse(der: &[u8]) -> Option<PrivateKey> {
        parse_pkcs1(der)
            .or_else(|| parse_pkcs8(der))
            .or_else(|| parse_sec1(der, None))
    }
}

fn parse_whole(der: &[u8]) -> Option<BerObject<'_>> {
    match parse_der(der) {
        Ok(([], obj)) => Some(obj),
        _ => None,
    }
}

fn integer<'a>(obj: &BerObject<'a>) -> Option<&'a [u8]> {
    match obj.content {
        BerObjectContent::Integer(b) => Some(b),
        _ => None,
    }
}

fn small_int(obj: &BerObject<'_>) -> Option<u64> {
    obj.as_u64().ok()
}

/// `RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dp, dq, qinv, … }`.
fn parse_pkcs1(der: &[u8]) -> Option<PrivateKey> {
    let obj = parse_whole(der)?;
    let seq = obj.as_sequence().ok()?;
    if seq.len() < 9 || small_int(&seq[0])? > 1 || !seq[..9].iter().all(|o| integer(o).is_some()) {
        return None;
    }
    Some(PrivateKey::Rsa {
        modulus: integer(&seq[1])?.to_vec(),
    })
}

/// `PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING, … }`.
fn parse_pkcs8(der: &[u8]) -> Option<PrivateKey> {
    let obj = parse_whole(der)?;
    let seq = obj.as_sequence().ok()?;
    if seq.len() < 3 || small_int(&seq[0])? != 0 {
        return None;
    }
    let algorithm = seq[1].as_sequence().ok()?;
    let oid = algorithm.first()?.as_oid().ok()?.to_id_string();
    let inner = match seq[2].content {
        BerObjectContent::OctetString(b) => b,
        _ => return None,
    };
    match oid.as_str() {
        OID_RSA => parse_pkcs1(inner),
        OID_EC => {
            let curve = algorithm.get(1)?.as_oid().ok()?.clone();
            parse_sec1(inner, Some(curve))
        }
        OID_ED25519 => {
            let seed = parse_whole(inner)?;
            match seed.content {
                BerObjectContent::OctetString(b) if b.len() == 32 => Some(PrivateKey::Ed25519),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] parameters OPTIONAL,
/// [1] publicKey BIT STRING OPTIONAL }`; the curve comes from the PKCS#8 wrapper or `[0]`.
fn parse_sec1(der: &[u8], curve: Option<Oid<'_>>) -> Option<PrivateKey> {
    let obj = parse_whole(der)?;
    let seq = obj.as_sequence().ok()?;
    if seq.len() < 2 || small_int(&seq[0])? != 1 {
        return None;
    }
    if !matches!(seq[1].content, BerObjectContent::OctetString(_)) {
        return None;
    }
    let mut named_curve = curve.map(|c| c.to_id_string());
    let mut public = None;
    for field in &seq[2..] {
        let tag = field.tag().0;
        let inner = explicit_inner(field)?;
        match tag {
            0 if named_curve.is_none() => {
                named_curve = Some(parse_whole(inner)?.as_oid().ok()?.to_id_string())
            }
            1 => {
                let bits = parse_whole(inner)?;
                public = Some(bits.as_bitstring().ok()?.data.to_vec());
            }
            _ => {}
        }
    }
    if !KNOWN_CURVES.contains(&named_curve?.as_str()) {
        return None;
    }
    Some(PrivateKey::Ec { public })
}

/// The encoded inner object of an explicitly tagged field (`[0] …`).
fn explicit_inner<'a>(field: &BerObject<'a>) -> Option<&'a [u8]> {
    match &field.content {
        BerObjectContent::Unknown(any) => Some(any.data),
        _ => None,
    }
}

/// One PEM block: its label and decoded bytes.
pub struct PemBlock {
    /// What the BEGIN line names (`CERTIFICATE`, `PRIVATE KEY`, …).
    pub label: String,
    /// The decoded body.
    pub der: Vec<u8>,
}

/// The PEM blocks of `input`, in order, like repeated `pem.Decode`: a block whose body is not
/// valid base64 or whose END line does not match is skipped.
pub fn pem_blocks(input: &[u8]) -> Vec<PemBlock> {
    let text = String::from_utf8_lossy(input);
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim_end);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        let mut in_headers = true;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if in_headers && line.contains(':') {
                continue;
            }
            in_headers = false;
            body.push_str(line.trim());
        }
        if !closed {
            break;
        }
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
            blocks.push(PemBlock {
                label: label.to_string(),
                der,
            });
        }
    }
    blocks
}
