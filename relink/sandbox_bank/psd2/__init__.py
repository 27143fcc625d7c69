"""The sandbox bank's NextGenPSD2 (Berlin Group XS2A, AIS) face, served under `/psd2`.

Several ASPSPs, one per SCA approach (`PSD2_ASPSPS`); see docs/sandbox-bank.md.
"""

from relink.sandbox_bank.psd2.aspsps import PSD2_ASPSPS, Approach, Psd2Aspsp

__all__ = ["PSD2_ASPSPS", "Approach", "Psd2Aspsp"]
