"""An s2n.Config from the command line; each failure names the option and the file."""

from __future__ import annotations

import argparse
import os
import re
from typing import Optional

import s2n

_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----")
_KEY = re.compile(rb"-----BEGIN (?:RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----")
# PKCS#8 "ENCRYPTED PRIVATE KEY", or a traditional key with "Proc-Type: 4,ENCRYPTED".
_ENCRYPTED = re.compile(rb"ENCRYPTED PRIVATE KEY-----|Proc-Type: *4, *ENCRYPTED")


class ConfigError(Exception):
    """One line for the user: which option, which file, what is wrong."""


def _read(option: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(f"{option} {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{option} {path}: is a directory") from None
    except OSError as e:
        raise ConfigError(f"{option} {path}: {e.strerror or e}") from None


def _add_pair(cfg: s2n.Config, cert: str, key: str) -> None:
    chain, pem = _read("--cert", cert), _read("--key", key)
    # The key first: with the two swapped, "--key is the certificate" is the clearer hint.
    if not _KEY.search(pem):
        hint = "no private key found (is it the certificate?)" if _CERT.search(pem) else "no PEM private key found"
        raise ConfigError(f"--key {key}: {hint}")
    if _ENCRYPTED.search(pem):
        raise ConfigError(f"--key {key}: the private key is encrypted (s2n-tls needs it unencrypted)")
    if not _CERT.search(chain):
        hint = "no certificate found (is it the private key?)" if _KEY.search(chain) else "no PEM certificate found"
        raise ConfigError(f"--cert {cert}: {hint}")
    try:
        cfg.add_cert_chain_and_key(chain, pem)
    except (s2n.S2NError, ValueError) as e:
        why = getattr(e, "name", "")
        if why == "S2N_ERR_KEY_MISMATCH":
            why = "the private key does not match the certificate"
        elif isinstance(e, s2n.S2NError):
            why = f"{e.name}: {e.message}"
        else:
            why = str(e)
        raise ConfigError(f"--cert {cert}, --key {key}: {why}") from None


def _trust(cfg: s2n.Config, ca_file: Optional[str], ca_dir: Optional[str]) -> None:
    if ca_file and not _CERT.search(_read("--ca-file", ca_file)):
        raise ConfigError(f"--ca-file {ca_file}: no PEM certificate found")
    if ca_dir and not os.path.isdir(ca_dir):
        why = "not a directory" if os.path.exists(ca_dir) else "no such directory"
        raise ConfigError(f"--ca-dir {ca_dir}: {why}")
    try:
        cfg.set_verification_ca_location(cafile=ca_file, capath=ca_dir)
    except (s2n.S2NError, OSError) as e:
        where = " ".join(f"{o} {p}" for o, p in (("--ca-file", ca_file), ("--ca-dir", ca_dir)) if p)
        why = f"{e.name}: {e.message}" if isinstance(e, s2n.S2NError) else (e.strerror or str(e))
        raise ConfigError(f"{where}: cannot load the CA certificates ({why})") from None


def build_config(args: argparse.Namespace, server: bool) -> s2n.Config:
    cfg = s2n.Config()
    if args.ciphers:
        try:
            cfg.set_cipher_preferences(args.ciphers)
        except s2n.S2NError as e:
            why = ("unknown security policy ('python -m s2n policies' lists well-known ones)"
                   if e.name == "S2N_ERR_INVALID_SECURITY_POLICY" else f"{e.name}: {e.message}")
            raise ConfigError(f"--ciphers {args.ciphers}: {why}") from None
    if len(args.cert) != len(args.key):
        raise ConfigError("give as many --key as --cert")
    for cert, key in zip(args.cert, args.key):
        _add_pair(cfg, cert, key)
    if args.insecure:
        cfg.disable_x509_verification()
    elif args.ca_file or args.ca_dir:
        _trust(cfg, args.ca_file, args.ca_dir)
    elif not server or args.mutualAuth:
        cfg.load_system_certs()
    if args.alpn:
        try:
            cfg.set_protocol_preferences([p for p in args.alpn.split(",") if p])
        except (s2n.S2NError, ValueError) as e:
            raise ConfigError(f"--alpn {args.alpn}: {getattr(e, 'message', e)}") from None
    if args.mutualAuth:
        cfg.set_client_auth_type(s2n.ClientAuth.REQUIRED)
        if server:
            # The chain is verified against the trust store; a client
            # certificate carries no host name to check.
            cfg.set_verify_host_callback(lambda name: True)
    if args.no_session_ticket:
        cfg.set_session_tickets_onoff(False)
    if server:  # issue 12: ticket key file and lifetimes
        from ._tickets import configure_server
        configure_server(cfg, args)
    if args.max_blinding_delay is not None:
        cfg.set_max_blinding_delay(args.max_blinding_delay)
    _key_log(cfg)
    return cfg


def _key_log(cfg: s2n.Config) -> None:
    """SSLKEYLOGFILE (issue 12): INSECURE debugging aid, see the --help epilog."""
    from .._keylog import ENV, from_environment

    try:
        from_environment(cfg)
    except OSError as e:
        raise ConfigError(f"{ENV}={os.environ.get(ENV)}: {e.strerror or e}") from None


def config_or_none(args: argparse.Namespace, server: bool) -> Optional[s2n.Config]:
    """build_config, with any failure told to the user in one line (None then)."""
    from ._common import err, reason

    prog = "s2n server" if server else "s2n client"
    try:
        return build_config(args, server=server)
    except ConfigError as e:
        err(f"{prog}: {e}")
    except (s2n.S2NError, OSError, ValueError) as e:
        err(f"{prog}: configuration: {reason(e)}")
    return None
