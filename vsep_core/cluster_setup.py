"""Set up a closed Dask cluster for vsep: its certificates, its scheduler, its workers.

Run from the checkout (``.venv/bin/python -m vsep_core.cluster_setup …``)::

    certs DIR                       make the cluster's CA, certificate and key in DIR (once)
    scheduler --host IP [--port P]  start the scheduler on IP only, TLS with client certificates
    worker ADDRESS --host IP        start workers on IP only that join the scheduler at ADDRESS

``scheduler`` and ``worker`` run Dask's own commands (``dask scheduler``,
``dask worker``; the exact command is printed first) with what makes the
cluster closed: TLS with mutual authentication against the cluster's CA
(encryption required: a ``tcp://`` peer is refused), every listening port on
the one address given (``--host``), no HTTP server (the diagnostics dashboard
and Dask's HTTP routes are off, and the HTTP listener Dask opens regardless is
closed by this module as a preload, :func:`dask_setup`), and this checkout on
``PYTHONPATH`` so workers can import vsep_core. The certificates' folder is
``--certs DIR`` or ``VSEP_DASK_CERTS``. Options after ``--`` go to the Dask
command as they are.

**What the certificate grants.** Any holder of the cluster's certificate and
key can run any code, as the user running them, on the scheduler, on every
worker and (through Dask's own protocol, which unpickles exceptions) in the
web server's process: give the folder only to the machines of the cluster and
keep the key readable by their user alone. The CA's private key is not kept:
nobody can make another certificate for this cluster; to change the
certificate (a machine lost, a key leaked), make a new folder and restart
everything with it.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
from pathlib import Path

from .cluster import CA_FILE, CERT_FILE, CERTS_ENV, KEY_FILE, certificate_files
from .errors import VsepError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
#: Default lifetime of the certificates (days).
DEFAULT_DAYS = 825
#: The scheduler's port by default (Dask's).
DEFAULT_PORT = 8786
#: This module, as Dask's ``--preload`` names it (``__name__`` is ``__main__`` under ``python -m``).
PRELOAD = "vsep_core.cluster_setup"


def make_certificates(folder, *, days: int = DEFAULT_DAYS) -> dict:
    """Write a new CA certificate and one certificate + key signed by it into ``folder``.

    The folder is created with mode 0700 and the key with 0600; the CA's private key exists only in memory
    while signing and is not written (no further certificate can be made for this cluster). ECDSA P-256 keys
    (TLS 1.2 and 1.3, as Dask requires TLS >= 1.2).

    Parameters
    ----------
    folder : path
        Where to write ``ca.pem``, ``node.pem`` and ``node-key.pem``; must not hold them already.
    days : int
        How long the certificates are valid.

    Returns
    -------
    dict
        ``{"ca", "cert", "key"}``: the paths written.

    Raises
    ------
    VsepError
        When the folder already holds certificates or cannot be written, or ``days`` is out of range.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not isinstance(days, int) or not 1 <= days <= 3650:
        raise VsepError(f"--days must be a whole number from 1 to 3650, got {days!r}.")
    folder = Path(folder).expanduser()
    paths = {"ca": folder / CA_FILE, "cert": folder / CERT_FILE, "key": folder / KEY_FILE}
    present = [p.name for p in paths.values() if p.exists()]
    if present:
        raise VsepError(
            f"{str(folder)!r} already holds {', '.join(present)}: make new certificates in an "
            "empty folder (then restart the cluster and the dashboard with it)."
        )
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    except OSError as exc:
        raise VsepError(f"Cannot create the certificates folder {str(folder)!r}: {exc.strerror or exc}") from None

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vsep Dask cluster CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vsep Dask cluster member")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # Every member is a TLS server (it listens) and a client (it connects to the others).
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    try:
        _write(paths["ca"], ca_cert.public_bytes(pem), 0o644)
        _write(paths["cert"], cert.public_bytes(pem), 0o644)
        _write(
            paths["key"], key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600
        )
    except OSError as exc:
        raise VsepError(f"Cannot write the certificates into {str(folder)!r}: {exc.strerror or exc}") from None
    return paths


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _dask_environment(environ=None) -> dict:
    """The environment of the Dask commands: no HTTP routes, encryption required, this checkout importable."""
    env = dict(os.environ if environ is None else environ)
    env["DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES"] = "[]"
    env["DASK_DISTRIBUTED__WORKER__HTTP__ROUTES"] = "[]"
    env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] = "True"
    paths = [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(REPO)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _host(text: str) -> str:
    host = str(text).strip()
    if not host or "://" in host or host in ("0.0.0.0", "::", "[::]") or "/" in host:
        raise VsepError(
            f"--host must be the one address to listen on (e.g. 10.0.0.5 or 127.0.0.1), got {text!r}: "
            "vsep's cluster never listens on every interface."
        )
    return host


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def scheduler_command(host: str, port: int, certs, extra=()) -> list[str]:
    """The ``dask scheduler`` command line of a closed scheduler on ``host:port``."""
    host = _host(host)
    files = certificate_files(certs)
    return [
        sys.executable,
        "-m",
        "distributed.cli.dask_scheduler",
        "--host",
        host,
        "--port",
        str(int(port)),
        "--protocol",
        "tls",
        "--tls-ca-file",
        str(files["ca"]),
        "--tls-cert",
        str(files["cert"]),
        "--tls-key",
        str(files["key"]),
        "--no-dashboard",
        "--dashboard-address",
        f"{_bracket(host)}:0",
        "--no-jupyter",
        "--preload",
        PRELOAD,
        *extra,
    ]


def worker_command(scheduler: str, host: str, certs, *, nworkers: int = 1, nthreads: int = 1, extra=()) -> list[str]:
    """The ``dask worker`` command line of closed workers on ``host`` joining ``scheduler``."""
    from .cluster import check_address

    scheduler = check_address(scheduler)
    host = _host(host)
    files = certificate_files(certs)
    if int(nworkers) < 1 or int(nthreads) < 1:
        raise VsepError("--nworkers and --nthreads must be at least 1.")
    return [
        sys.executable,
        "-m",
        "distributed.cli.dask_worker",
        scheduler,
        "--host",
        host,
        "--protocol",
        "tls",
        "--tls-ca-file",
        str(files["ca"]),
        "--tls-cert",
        str(files["cert"]),
        "--tls-key",
        str(files["key"]),
        "--nworkers",
        str(int(nworkers)),
        "--nthreads",
        str(int(nthreads)),
        "--no-dashboard",
        "--dashboard-address",
        f"{_bracket(host)}:0",
        "--preload",
        PRELOAD,
        *extra,
    ]


def dask_setup(server) -> None:
    """Dask preload hook (``--preload vsep_core.cluster_setup``): close the HTTP listener Dask opens on every
    scheduler and worker even with the dashboard off (its routes are already empty; now nothing listens)."""
    http = getattr(server, "http_server", None)
    if http is not None:
        http.stop()
        log.info("vsep: %s serves no HTTP", type(server).__name__)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vsep_core.cluster_setup", description="Set up a closed Dask cluster for vsep (docs/SERVING.md)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    certs = sub.add_parser("certs", help="make the cluster's CA, certificate and key in a new folder")
    certs.add_argument("folder")
    certs.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"validity (default {DEFAULT_DAYS})")
    scheduler = sub.add_parser("scheduler", help="start the scheduler (TLS, one address, no HTTP)")
    scheduler.add_argument("--host", required=True, help="the one address to listen on")
    scheduler.add_argument("--port", type=int, default=DEFAULT_PORT)
    scheduler.add_argument("--certs", default=os.environ.get(CERTS_ENV), help=f"default ${CERTS_ENV}")
    worker = sub.add_parser("worker", help="start workers (TLS, one address, no HTTP)")
    worker.add_argument("scheduler", help="the scheduler's address, tls://host:port")
    worker.add_argument("--host", required=True, help="the one address this machine's workers listen on")
    worker.add_argument("--nworkers", type=int, default=1, help="worker processes (default 1)")
    worker.add_argument("--nthreads", type=int, default=1, help="threads per worker (default 1: best for vsep)")
    worker.add_argument("--certs", default=os.environ.get(CERTS_ENV), help=f"default ${CERTS_ENV}")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    try:
        if args.command == "certs":
            paths = make_certificates(args.folder, days=args.days)
            print(f"Wrote {paths['ca']}, {paths['cert']} and {paths['key']} (valid {args.days} days).")
            print(
                "Whoever holds this certificate and key can run code on the cluster and the web server: "
                "copy the folder only to the cluster's machines."
            )
            return 0
        if not args.certs:
            raise VsepError(f"Name the certificates folder with --certs DIR or {CERTS_ENV}.")
        if args.command == "scheduler":
            command = scheduler_command(args.host, args.port, args.certs, extra)
        else:
            command = worker_command(
                args.scheduler, args.host, args.certs, nworkers=args.nworkers, nthreads=args.nthreads, extra=extra
            )
    except VsepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("Running:", " ".join(command), flush=True)
    os.execve(command[0], command, _dask_environment())
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
