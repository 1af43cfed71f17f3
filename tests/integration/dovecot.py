"""A private Dovecot IMAP server for the integration tests (loopback only, no system service).

Each instance has its own config file, base_dir, state_dir, log and Maildir root in a
temporary directory. Users live in a passwd-file; `reset()` gives every test a fresh user,
so tests never see each other's folders, flags or UIDs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from imapclient import IMAPClient

DOVECOT_BIN = Path("/usr/sbin/dovecot")
START_TIMEOUT = 10.0
PASSWORD = "s3cret-pass"
# extra_config for a server whose post-login capabilities lack MOVE (UIDPLUS stays).
WITHOUT_MOVE = "protocol imap {\n  imap_capability = IMAP4rev1 LITERAL+ ID ENABLE IDLE UIDPLUS\n}\n"

# Dovecot 2.3 syntax (Debian 12 ships 2.3.19); 2.4 renamed many settings.
_CONFIG = """\
instance_name = ventanilla-test-{tag}
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_fsync = never
mailbox_idle_check_interval = 1 secs
{ssl_config}
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service anvil {{
  chroot =
  # Mode 0 switches off the auth penalty: after one wrong password from 127.0.0.1
  # every later login would wait 2-15 s.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  chroot =
}}
{extra}
"""


def free_port() -> int:
    """A loopback port nobody listens on right now (bind port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed cert for 127.0.0.1/localhost; return (cert, key) paths."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    alt = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(alt, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class DovecotError(RuntimeError):
    """The private Dovecot did not start or stop as expected."""


class Dovecot:
    """One private Dovecot master process; `start()` is idempotent, `restart()` keeps the port."""

    def __init__(self, *, tls: bool = False, extra_config: str = "") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="vdc-"))  # short: unix socket paths < 108
        self.root.chmod(0o755)
        self.maildir_root = self.root / "mail"
        self.port = free_port()
        self.imaps_port = free_port() if tls else 0
        self.password = PASSWORD
        self.user = ""
        self.cert_path: Path | None = None
        self._tls = tls
        self._extra = extra_config
        self._users = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner = self._mail_owner()
        self._write_config()
        self.reset()

    # -- lifecycle -------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the master in the foreground (as a child of ours); wait for the port."""
        if self.running:
            return
        with (self.root / "master.stderr").open("ab") as stderr:
            self._proc = subprocess.Popen(
                [str(DOVECOT_BIN), "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group: stop() ends every child
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not port_open(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._kill()
                raise DovecotError(f"dovecot did not come up on port {self.port}:\n{self.logs()}")
            time.sleep(0.02)
        if self._proc.poll() is not None:  # someone else holds the port
            raise DovecotError(f"dovecot exited; port {self.port} taken?\n{self.logs()}")

    def stop(self) -> None:
        """Kill the master and its process group; wait until the port is closed."""
        if self._proc is None:
            return
        self._kill()
        deadline = time.monotonic() + START_TIMEOUT
        while port_open(self.port):
            if time.monotonic() > deadline:
                raise DovecotError(f"port {self.port} still open after stopping dovecot")
            time.sleep(0.02)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        parts = [self.root / "master.stderr", self.log_path]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())

    def _kill(self) -> None:
        """SIGTERM the whole group: a killed master leaves logged-in imap processes running."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        # The master waits for its children before it exits; anything left now is a straggler
        # (or a zombie that our container's init has not reaped: polling for it wastes time).
        _signal_group(proc.pid, signal.SIGKILL)

    # -- users -----------------------------------------------------------------------

    def reset(self) -> None:
        """Switch to a brand-new user: empty INBOX, no folders, UIDs from 1."""
        self.add_user(f"user{next(self._users)}", self.password)

    def add_user(self, user: str, password: str, *, make_current: bool = True) -> None:
        """Write a one-line passwd-file for the user.

        One file per user because Dovecot checks a changed passwd-file at most once a
        second; a file it has never opened is read at once.
        """
        uid, gid = self._owner[1], self._owner[2]
        home = self.maildir_root / user
        line = f"{user}:{{PLAIN}}{password}:{uid}:{gid}::{home}::\n"
        (self.root / "users" / user).write_text(line)
        if make_current:
            self.user = user

    # -- client-side helpers for test setup ------------------------------------------

    def imap_client(self, user: str | None = None) -> IMAPClient:
        """A logged-in IMAPClient on the plain port (the caller logs out)."""
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.normalise_times = False
        client.login(user or self.user, self.password)
        return client

    def append(
        self,
        folder: str,
        raw: bytes,
        internaldate: dt.datetime | None = None,
        flags: Sequence[str] = (),
    ) -> int:
        """APPEND a message as another client would; return its UID (UIDPLUS)."""
        with self._session() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=tuple(flags), msg_time=internaldate)
        return _appenduid(response)

    def recreate_folder(self, name: str) -> None:
        """Delete and create a folder again: it gets a new UIDVALIDITY."""
        with self._session() as client:
            if client.folder_exists(name):
                client.delete_folder(name)
            client.create_folder(name)

    def uids(self, folder: str) -> list[int]:
        with self._session() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def flags(self, folder: str, uid: int) -> set[str]:
        with self._session() as client:
            client.select_folder(folder, readonly=True)
            found = client.get_flags([uid]).get(uid, ())
        return {f.decode() for f in found}

    def add_flags(self, folder: str, uids: Iterable[int], flags: Sequence[str]) -> None:
        with self._session() as client:
            client.select_folder(folder)
            client.add_flags(list(uids), list(flags))

    def expunge(self, folder: str, uids: Iterable[int]) -> None:
        """Remove messages as another client would (\\Deleted + UID EXPUNGE)."""
        with self._session() as client:
            client.select_folder(folder)
            client.delete_messages(list(uids))
            client.uid_expunge(list(uids))

    def delete_folder(self, name: str) -> None:
        with self._session() as client:
            client.delete_folder(name)

    def folder_exists(self, name: str) -> bool:
        with self._session() as client:
            return bool(client.folder_exists(name))

    def capabilities(self) -> set[str]:
        """What a logged-in client is told (post-login CAPABILITY)."""
        with self._session() as client:
            return {c.decode() for c in client.capabilities()}

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying context that trusts this server's self-signed certificate."""
        if self.cert_path is None:
            raise DovecotError("this Dovecot has no TLS")
        return ssl.create_default_context(cafile=str(self.cert_path))

    # -- internals -------------------------------------------------------------------

    def _session(self) -> _Session:
        return _Session(self)

    def _mail_owner(self) -> tuple[str, int, int]:
        """Dovecot refuses to access mail as root: use the `dovecot` user when we are root."""
        entry = pwd.getpwnam("dovecot") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        return entry.pw_name, entry.pw_uid, entry.pw_gid

    def _write_config(self) -> None:
        name, uid, gid = self._owner
        self.maildir_root.mkdir()
        os.chown(self.maildir_root, uid, gid)
        (self.root / "users").mkdir()
        login_user = "dovenull" if os.geteuid() == 0 else name
        text = _CONFIG.format(
            tag=self.root.name,
            root=self.root,
            internal_user=name if os.geteuid() != 0 else "dovecot",
            login_user=login_user,
            uid=uid,
            gid=gid,
            port=self.port,
            imaps_port=self.imaps_port,
            ssl_config=self._ssl_config(),
            extra=self._extra,
        )
        self.config_path.write_text(text)

    def _ssl_config(self) -> str:
        if not self._tls:
            return "ssl = no"
        self.cert_path, key_path = make_self_signed_cert(self.root)
        return f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{key_path}"


class _Session:
    """`with dovecot._session() as client:` a short-lived logged-in client."""

    def __init__(self, server: Dovecot) -> None:
        self._server = server
        self._client: IMAPClient | None = None

    def __enter__(self) -> IMAPClient:
        self._client = self._server.imap_client()
        return self._client

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            try:
                self._client.logout()
            except Exception:  # best effort in test setup
                self._client.shutdown()


def _signal_group(pgid: int, signum: int) -> None:
    """Signal the process group we created (its leader is our dovecot master)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _appenduid(response: bytes) -> int:
    """Parse `[APPENDUID <uidvalidity> <uid>] ...` from an APPEND response."""
    text = response.decode(errors="replace")
    if "APPENDUID" not in text:
        return 0
    return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])
