"""Throw-away certificates for TLS tests: a CA, a server certificate for localhost/127.0.0.1 and a
client certificate, all signed by the CA (PEM files)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tagstream.localstack.errors import StackError
from tagstream.localstack.ports import free_port
from tagstream.localstack.process import ManagedProcess
from tagstream.localstack.wait import port_open


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certs(directory: Path, server_names: tuple[str, ...] = ()) -> Certs:
    """The server certificate is for localhost, 127.0.0.1 and `server_names` (e.g. a compose service)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tagstream test CA")])
    ca = _cert("tagstream test CA", ca_key, ca_name, ca_key, ca=True)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths = {}
    for name, san in (
        (
            "server",
            [
                x509.DNSName("localhost"),
                *(x509.DNSName(n) for n in server_names),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ],
        ),
        ("client", None),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(f"tagstream test {name}", key, ca_name, ca_key, san=san)
        (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[name] = (directory / f"{name}.pem", _write_key(key, directory / f"{name}.key"))
    return Certs(directory / "ca.pem", *paths["server"], *paths["client"])


class Stunnel(ManagedProcess):
    """Debian's stunnel4 as a TLS terminator in front of a plaintext server (Tansu cannot serve TLS):
    TLS on `accept_port`, with the server certificate, and with `require_client_cert` mutual TLS
    (client certificates signed by the CA)."""

    name = "stunnel"

    def __init__(self, workdir: Path, certs: Certs, *, connect_port: int, require_client_cert: bool = True):
        super().__init__(workdir)
        self.certs = certs
        self.accept_port = free_port()
        self.connect_port = connect_port
        self.require_client_cert = require_client_cert

    def command(self) -> list[str]:
        binary = shutil.which("stunnel4") or shutil.which("stunnel")
        if binary is None:
            raise StackError("stunnel4 is not installed: `apt-get install stunnel4` or `make system-deps`")
        conf = self.workdir / "stunnel.conf"
        verify = "verifyChain = yes\nrequireCert = yes\n" if self.require_client_cert else ""
        conf.write_text(
            "foreground = yes\npid =\n"
            f"[kafka]\naccept = 127.0.0.1:{self.accept_port}\nconnect = 127.0.0.1:{self.connect_port}\n"
            f"cert = {self.certs.server_cert}\nkey = {self.certs.server_key}\nCAfile = {self.certs.ca}\n{verify}",
            encoding="utf-8",
        )
        return [binary, str(conf)]

    def ready(self) -> bool:
        return port_open("127.0.0.1", self.accept_port)
