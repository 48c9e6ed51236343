"""Throw-away PKI for one test control plane, made with ``cryptography``.

One CA signs the apiserver's serving certificate (localhost, 127.0.0.1, ::1 and the in-cluster
names) and the admin client certificate (``O=system:masters``, so RBAC lets it do anything).
A separate key pair signs ServiceAccount tokens (``TokenRequest``).  EC P-256 keys: generating
them takes microseconds, RSA-2048 takes tens of milliseconds each.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class PKIFiles:
    """Paths of the PEM files the control plane and its clients use."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_public_key: Path
    sa_private_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """Digital signatures always; certificate and CRL signing for the CA only."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf(
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(signs_certificates=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _ca(ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name) -> x509.Certificate:
    """A self-signed CA certificate that signs leaves only (path length 0)."""
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage(signs_certificates=True),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def generate(directory: Path) -> PKIFiles:
    """Write a fresh CA, serving/admin certificates and SA signing keys into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name("gwwatch-test-ca")
    ca = _ca(ca_key, ca_name)

    serving_key = _key()
    serving = _leaf(
        ca_key=ca_key,
        ca_name=ca_name,
        subject=_name("kube-apiserver"),
        key=serving_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=[
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
            x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        ],
    )

    admin_key = _key()
    admin = _leaf(
        ca_key=ca_key,
        ca_name=ca_name,
        subject=_name("gwwatch-test-admin", "system:masters"),
        key=admin_key,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )

    sa_key = _key()
    return PKIFiles(
        ca_cert=_write(directory / "ca.crt", _cert_pem(ca), 0o644),
        serving_cert=_write(directory / "apiserver.crt", _cert_pem(serving), 0o644),
        serving_key=_write(directory / "apiserver.key", _key_pem(serving_key)),
        admin_cert=_write(directory / "admin.crt", _cert_pem(admin), 0o644),
        admin_key=_write(directory / "admin.key", _key_pem(admin_key)),
        sa_public_key=_write(
            directory / "sa.pub",
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            0o644,
        ),
        sa_private_key=_write(directory / "sa.key", _key_pem(sa_key)),
    )


@dataclass(frozen=True, slots=True)
class ServingFiles:
    """A serving certificate for 127.0.0.1/localhost and the CA that signed it (PEM paths)."""

    ca_cert: Path
    cert: Path
    key: Path

    @property
    def ca_bundle(self) -> bytes:
        return self.ca_cert.read_bytes()


def serving(directory: Path, *, name: str = "webhook", ca: str | None = None) -> ServingFiles:
    """Write a fresh CA (``<ca or name>-ca.crt``) and a serving certificate signed by it
    (``<name>.crt``/``<name>.key``) for a local TLS server the API server calls, such as an
    admission webhook registered by URL. Writing again under the same ``name`` replaces the
    files (a rotation); the key is written first, then the certificate, each atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name(f"gwwatch-test-{ca or name}-ca")
    ca_cert = _ca(ca_key, ca_name)
    key = _key()
    leaf = _leaf(ca_key=ca_key, ca_name=ca_name, subject=_name(name), key=key,
                 usage=ExtendedKeyUsageOID.SERVER_AUTH,
                 san=[x509.DNSName("localhost"),
                      x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    out = ServingFiles(directory / f"{ca or name}-ca.crt", directory / f"{name}.crt",
                       directory / f"{name}.key")
    for path, data, mode in ((out.ca_cert, _cert_pem(ca_cert), 0o644),
                             (out.key, _key_pem(key), 0o600),
                             (out.cert, _cert_pem(leaf), 0o644)):
        tmp = _write(path.with_name(path.name + ".tmp"), data, mode)
        tmp.replace(path)
    return out
