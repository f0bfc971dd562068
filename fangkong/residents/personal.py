"""Sealing ID numbers and phones for storage: ciphertext, blind index and masked copy."""

from __future__ import annotations

from dataclasses import dataclass

from fangkong.lib import crypto
from fangkong.lib.idcard import mask_id_number
from fangkong.lib.phone import PhoneNumber, mask_phone, phone_last4

ID_NUMBER = "id_number"
PHONE = "phone"


@dataclass(frozen=True, slots=True)
class SealedPhone:
    sealed: bytes
    index: str
    masked: str
    last4: str
    kind: str

    def fields(self) -> dict[str, object]:
        """A resident's phone columns holding this phone (see `NO_PHONE`)."""
        return {"phone_sealed": self.sealed, "phone_index": self.index,
                "phone_masked": self.masked, "phone_last4": self.last4,
                "phone_kind": self.kind}


# A resident's phone columns when no phone is known.
NO_PHONE: dict[str, object] = {"phone_sealed": None, "phone_index": None, "phone_masked": "",
                               "phone_last4": "", "phone_kind": ""}
PHONE_FIELDS = tuple(NO_PHONE)


@dataclass(frozen=True, slots=True)
class SealedIdNumber:
    sealed: bytes
    index: str
    masked: str


def seal_phone(phone: PhoneNumber, keyring: crypto.Keyring | None = None) -> SealedPhone:
    ring = keyring or crypto.keyring()
    return SealedPhone(
        sealed=ring.seal(phone.number, purpose=PHONE),
        index=ring.blind_index(phone.number, purpose=PHONE),
        masked=mask_phone(phone.number),
        last4=phone_last4(phone.number),
        kind=phone.kind,
    )


def seal_id_number(number: str, keyring: crypto.Keyring | None = None) -> SealedIdNumber:
    ring = keyring or crypto.keyring()
    return SealedIdNumber(
        sealed=ring.seal(number, purpose=ID_NUMBER),
        index=ring.blind_index(number, purpose=ID_NUMBER),
        masked=mask_id_number(number),
    )


def id_number_index(number: str) -> str:
    return crypto.blind_index(number, purpose=ID_NUMBER)


def phone_index(number: str) -> str:
    return crypto.blind_index(number, purpose=PHONE)
