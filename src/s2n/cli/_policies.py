"""`python -m s2n policies`: well-known s2n-tls security policy names.

s2n-tls has no API that lists its policies, so this is a curated table read
from the pinned tree's tls/s2n_security_policies.c (the tests check that
s2n-tls accepts every name here). Any other name that s2n-tls knows works too.
"""

from __future__ import annotations

import argparse

POLICIES = (
    ("default", "TLS 1.2-1.3", "s2n-tls's default (= 20251014): post-quantum hybrid key exchange"),
    ("default_tls13", "TLS 1.2-1.3", "= 20240503: no post-quantum key exchange"),
    ("default_fips", "TLS 1.2-1.3", "= 20251015: FIPS-approved algorithms, post-quantum hybrid"),
    ("default_pq", "TLS 1.2-1.3", "= 20250721: post-quantum hybrid, more TLS 1.2 suites (CBC, ChaCha20)"),
    ("20230317", "TLS 1.2-1.3", "AES only (no ChaCha20), no post-quantum"),
    ("20240331", "TLS 1.2", "TLS 1.2 only: ECDHE with AES"),
    ("20210816", "TLS 1.2", "TLS 1.2 only: ECDHE with AES-256"),
    ("20170210", "TLS 1.0-1.2", "s2n-tls's default before TLS 1.3: RSA certificates only"),
    ("20190214", "TLS 1.0-1.2", "legacy: CBC and RSA key exchange"),
    ("20210825", "TLS 1.0-1.3", "legacy with TLS 1.3: CBC and RSA key exchange"),
    ("20250211", "TLS 1.3", "TLS 1.3 only: AES-256-GCM"),
    ("rfc9151", "TLS 1.2-1.3", "CNSA 1.0 (RFC 9151): AES-256-GCM, SHA-384"),
    ("cnsa_1", "TLS 1.2-1.3", "CNSA 1.0, as rfc9151"),
    ("cnsa_2", "TLS 1.3", "CNSA 2.0: AES-256-GCM, ML-KEM-1024 key exchange"),
    ("ELBSecurityPolicy-TLS-1-2-2017-01", "TLS 1.2", "Elastic Load Balancing, TLS 1.2"),
    ("ELBSecurityPolicy-FS-1-2-2019-08", "TLS 1.2", "Elastic Load Balancing, forward secrecy only"),
    ("CloudFront-TLS-1-2-2021", "TLS 1.2-1.3", "CloudFront viewer policy"),
    ("AWS-CRT-SDK-TLSv1.2-2025", "TLS 1.2-1.3", "AWS Common Runtime SDKs, TLS 1.2 minimum"),
    ("AWS-CRT-SDK-TLSv1.3-2023", "TLS 1.3", "AWS Common Runtime SDKs, TLS 1.3 only"),
    ("KMS-TLS-1-2-2023-06", "TLS 1.2-1.3", "AWS KMS"),
    ("PQ-TLS-1-2-2024-10-09", "TLS 1.2-1.3", "post-quantum hybrid, broad TLS 1.2 list"),
    ("test_all", "SSLv3-TLS 1.3", "every algorithm s2n-tls has, insecure ones too: tests only"),
)


def run(args: argparse.Namespace) -> int:
    for name, versions, note in POLICIES:
        print(f"{name:<34} {versions:<14} {note}")
    return 0
