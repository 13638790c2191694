#include "core/ssh/sshkey.h"

#include <array>

#include "core/ssh/wire.h"
#include "core/sys/base64.h"
#include "core/sys/sha256.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

struct TypeInfo {
    KeyAlgorithm alg;
    std::string_view name;
    std::string_view cert_name;
    std::string_view display;
    std::string_view curve_id;    // the ECDSA "nistpNNN" identifier
    std::string_view ossl_curve;  // OpenSSL's name for it
};

constexpr std::array<TypeInfo, 7> kTypes{{
    {KeyAlgorithm::sk_ecdsa_p256, "sk-ecdsa-sha2-nistp256@openssh.com",
     "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "ECDSA-SK", "nistp256", "P-256"},
    {KeyAlgorithm::sk_ed25519, "sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com",
     "ED25519-SK", "", ""},
    {KeyAlgorithm::ed25519, "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "ED25519", "", ""},
    {KeyAlgorithm::ecdsa_p256, "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
     "ECDSA", "nistp256", "P-256"},
    {KeyAlgorithm::ecdsa_p384, "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com",
     "ECDSA", "nistp384", "P-384"},
    {KeyAlgorithm::ecdsa_p521, "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
     "ECDSA", "nistp521", "P-521"},
    {KeyAlgorithm::rsa, "ssh-rsa", "ssh-rsa-cert-v01@openssh.com", "RSA", "", ""},
}};

const TypeInfo& info(KeyAlgorithm alg) {
    for (const auto& t : kTypes) {
        if (t.alg == alg)
            return t;
    }
    std::abort();  // every enumerator is in the table
}

const TypeInfo* find_type(std::string_view name, bool* is_cert) {
    for (const auto& t : kTypes) {
        if (name == t.name) {
            *is_cert = false;
            return &t;
        }
        if (name == t.cert_name) {
            *is_cert = true;
            return &t;
        }
    }
    return nullptr;
}

bool is_ecdsa(KeyAlgorithm a) {
    return a == KeyAlgorithm::sk_ecdsa_p256 || a == KeyAlgorithm::ecdsa_p256 ||
           a == KeyAlgorithm::ecdsa_p384 || a == KeyAlgorithm::ecdsa_p521;
}
bool is_ed25519(KeyAlgorithm a) {
    return a == KeyAlgorithm::sk_ed25519 || a == KeyAlgorithm::ed25519;
}

size_t ec_point_size(KeyAlgorithm a) {
    return a == KeyAlgorithm::ecdsa_p384 ? 97 : a == KeyAlgorithm::ecdsa_p521 ? 133 : 65;
}

unsigned bit_length(ByteView magnitude) {
    if (magnitude.empty())
        return 0;
    unsigned bits = static_cast<unsigned>(magnitude.size() - 1) * 8;
    for (uint8_t top = magnitude[0]; top != 0; top >>= 1)
        bits++;
    return bits;
}

Status check_application(std::string_view app) {
    if (app.empty())
        return invalid("security key application is empty");
    if (app.size() > kMaxApplicationBytes)
        return invalid("security key application is longer than " +
                       std::to_string(kMaxApplicationBytes) + " bytes");
    return {};
}

// Skips a certificate's fields after the key material, checking their
// framing; the CA signature is not verified (skgate never trusts
// certificates, it only names them).
Status skip_certificate_body(WireReader& r) {
    SKGATE_TRY(serial, r.read_u64());
    SKGATE_TRY(cert_type, r.read_u32());
    (void)serial;
    if (cert_type != 1 && cert_type != 2)
        return invalid("certificate type " + std::to_string(cert_type) +
                       " is neither user nor host");
    SKGATE_TRY(key_id, r.read_string());
    SKGATE_TRY(principals, r.read_string());
    SKGATE_TRY(valid_after, r.read_u64());
    SKGATE_TRY(valid_before, r.read_u64());
    SKGATE_TRY(critical, r.read_string());
    SKGATE_TRY(extensions, r.read_string());
    SKGATE_TRY(reserved, r.read_string());
    SKGATE_TRY(signature_key, r.read_string());
    SKGATE_TRY(signature, r.read_string());
    (void)key_id, (void)principals, (void)valid_after, (void)valid_before, (void)critical;
    (void)extensions, (void)reserved;
    if (signature_key.empty() || signature.empty())
        return invalid("certificate has no CA key or signature");
    return {};
}

}  // namespace

std::string_view key_algorithm_name(KeyAlgorithm alg) {
    return info(alg).name;
}

bool PublicKey::is_known_type_name(std::string_view name) {
    bool cert = false;
    return find_type(name, &cert) != nullptr;
}

Result<PublicKey> PublicKey::parse_blob(ByteView blob) {
    if (blob.size() > kMaxKeyBlobBytes)
        return invalid("key blob is larger than " + std::to_string(kMaxKeyBlobBytes) + " bytes");
    WireReader r(blob);
    auto type = r.read_cstring();
    if (!type)
        return type.error().context("key type");
    PublicKey key;
    const TypeInfo* t = find_type(*type, &key.certificate_);
    if (!t)
        return invalid("unknown key type \"" + printable(*type) + "\"");
    key.alg_ = t->alg;
    if (key.certificate_) {
        SKGATE_TRY(nonce, r.read_string());
        if (nonce.size() < 16)
            return invalid("certificate nonce is shorter than 16 bytes");
    }

    if (is_ecdsa(t->alg)) {
        auto curve = r.read_cstring();
        if (!curve)
            return curve.error().context("ECDSA curve");
        if (*curve != t->curve_id)
            return invalid("ECDSA curve \"" + printable(*curve) + "\" does not match key type " +
                           std::string(t->name));
        auto point = r.read_string();
        if (!point)
            return point.error().context("ECDSA public point");
        if (point->size() != ec_point_size(t->alg) || (*point)[0] != 0x04) {
            return invalid("EC point is not an uncompressed " + std::string(t->ossl_curve) +
                           " point (" + std::to_string(point->size()) + " bytes)");
        }
        key.material_ = to_bytes(*point);
        key.bits_ = t->alg == KeyAlgorithm::ecdsa_p384   ? 384
                    : t->alg == KeyAlgorithm::ecdsa_p521 ? 521
                                                         : 256;
    } else if (is_ed25519(t->alg)) {
        auto pk = r.read_string();
        if (!pk)
            return pk.error().context("Ed25519 public key");
        if (pk->size() != 32)
            return invalid("Ed25519 public key is " + std::to_string(pk->size()) +
                           " bytes, expected 32");
        key.material_ = to_bytes(*pk);
        key.bits_ = 256;
    } else {
        auto e = r.read_mpint();
        if (!e)
            return e.error().context("RSA exponent");
        auto n = r.read_mpint();
        if (!n)
            return n.error().context("RSA modulus");
        if (n->empty() || e->empty())
            return invalid("RSA key has a zero exponent or modulus");
        key.rsa_e_ = to_bytes(*e);
        key.material_ = to_bytes(*n);
        key.bits_ = bit_length(*n);
    }

    if (key.is_security_key()) {
        auto app = r.read_cstring();
        if (!app)
            return app.error().context("security key application");
        SKGATE_CHECK(check_application(*app));
        key.application_ = std::move(*app);
    }
    if (key.certificate_)
        SKGATE_CHECK(skip_certificate_body(r));
    SKGATE_CHECK(
        r.expect_end("the " + std::string(key.certificate_ ? t->cert_name : t->name) + " key"));
    key.blob_ = to_bytes(blob);
    return key;
}

Result<PublicKey> PublicKey::parse_text(std::string_view text, std::string* comment) {
    text = trim(text);
    size_t sp = text.find_first_of(" \t");
    if (sp == std::string_view::npos)
        return invalid("expected \"TYPE BASE64 [COMMENT]\", found a single word");
    std::string_view type = text.substr(0, sp);
    std::string_view rest = trim(text.substr(sp));
    size_t sp2 = rest.find_first_of(" \t");
    std::string_view b64 = rest.substr(0, sp2);
    std::string_view cmt =
        sp2 == std::string_view::npos ? std::string_view{} : trim(rest.substr(sp2));

    bool cert = false;
    if (!find_type(type, &cert))
        return invalid("unknown key type \"" + printable(type) + "\"");
    if (b64.size() > kMaxKeyBlobBytes * 4 / 3 + 4)
        return invalid("key is longer than " + std::to_string(kMaxKeyBlobBytes) + " bytes");
    auto blob = base64_decode(b64);
    if (!blob)
        return blob.error().context("key data");
    auto key = parse_blob(*blob);
    if (!key)
        return key;
    if (key->type_name() != type)
        return invalid("key type word \"" + std::string(type) + "\" does not match the key data (" +
                       key->type_name() + ")");
    if (comment)
        *comment = std::string(cmt);
    return key;
}

Result<PublicKey> PublicKey::make_sk_ecdsa(ByteView point, std::string_view application) {
    WireWriter w;
    w.put_string(info(KeyAlgorithm::sk_ecdsa_p256).name);
    w.put_string("nistp256");
    w.put_string(point);
    w.put_string(application);
    return parse_blob(w.bytes());
}

Result<PublicKey> PublicKey::make_sk_ed25519(ByteView pk, std::string_view application) {
    WireWriter w;
    w.put_string(info(KeyAlgorithm::sk_ed25519).name);
    w.put_string(pk);
    w.put_string(application);
    return parse_blob(w.bytes());
}

std::string PublicKey::type_name() const {
    const TypeInfo& t = info(alg_);
    return std::string(certificate_ ? t.cert_name : t.name);
}

std::string_view PublicKey::plain_type_name() const {
    return info(alg_).name;
}

std::string_view PublicKey::display_type() const {
    return info(alg_).display;
}

Bytes PublicKey::plain_blob() const {
    if (!certificate_)
        return blob_;
    const TypeInfo& t = info(alg_);
    WireWriter w;
    w.put_string(t.name);
    if (is_ecdsa(alg_)) {
        w.put_string(t.curve_id);
        w.put_string(material_);
    } else if (is_ed25519(alg_)) {
        w.put_string(material_);
    } else {
        w.put_mpint(rsa_e_);
        w.put_mpint(material_);
    }
    if (is_security_key())
        w.put_string(application_);
    return std::move(w).take();
}

std::string PublicKey::fingerprint() const {
    Sha256 h = sha256(plain_blob());
    std::string b64 = base64_encode(h);
    while (!b64.empty() && b64.back() == '=')
        b64.pop_back();
    return "SHA256:" + b64;
}

std::string PublicKey::to_text() const {
    return type_name() + " " + base64_encode(blob_);
}

std::string_view PublicKey::curve() const {
    return info(alg_).ossl_curve;
}

}  // namespace skgate
