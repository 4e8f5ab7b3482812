"""Carriers from the shape of a tracking number, and the tracking number inside a label's barcode.

The numbers are real-looking: the published examples carriers and tracking libraries use (valid check
digits where a format has one)."""
from __future__ import annotations

import pytest

from tracker.domain.carriers import (CARRIER_NAMES, CARRIERS, detect_carrier, label_tracking_number,
                                     looks_like_tracking, normalise_tracking, tracking_url, valid_tracking)

UPS = ["1Z999AA10123456784", "1Z879E930346834440", "1ZA2B8430352689377"]
USPS = [
    "9400111899223197428490",        # Priority Mail, 22 digits
    "9205500000000000000001",        # 92 + 20
    "9361289878700317633795",        # 93
    "9505511069605048600624",        # 95
    "92748931507708513018050063",    # 26 digits
    "9101123456789000000013",        # 91: the older IMpb prefix
    "EC123456789US",                 # international (S10), Priority Mail Express International
    "RR123456785US",
]
FEDEX = [
    "986578788855",                  # Express, 12 digits
    "477179081230",
    "041441760228964",               # Ground, 15
    "568283610012000",
    "61299998820821171811",          # SmartPost, 20
    "9611020987654312345672",        # Ground 96, 22
]


@pytest.mark.parametrize("number", UPS)
def test_ups(number):
    assert detect_carrier(number) == "ups"


@pytest.mark.parametrize("number", USPS)
def test_usps(number):
    assert detect_carrier(number) == "usps"


@pytest.mark.parametrize("number", FEDEX)
def test_fedex(number):
    assert detect_carrier(number) == "fedex"


@pytest.mark.parametrize("text,carrier", [
    ("1z999aa10123456784", "ups"),                      # a scanner with caps lock off
    ("1Z 999 AA1 01 2345 6784", "ups"),                 # copied from an email, with the spaces
    ("  1Z999AA10123456784\n", "ups"),
    ("9400 1118 9922 3197 4284 90", "usps"),
    ("9400-1118-9922-3197-4284-90", "usps"),
    ("ec 123 456 789 us", "usps"),
    ("9865 7878 8855", "fedex"),
])
def test_formatting_does_not_matter(text, carrier):
    assert detect_carrier(text) == carrier


@pytest.mark.parametrize("text", [
    "", "   ", "A1001", "A1001B", "BATCH12", "BADGESAM", "hello world",
    "1Z999AA1012345678",          # UPS one character short
    "1Z999AA101234567845",        # and one too long
    "12345678901",                # 11 digits: no carrier's length
    "1234567890123",              # 13 digits
    "EC123456789GB",              # a Royal Mail S10 number is not USPS
    "4201002334249200190132607600833457",   # a whole IMpb barcode is not itself a tracking number
])
def test_not_a_known_carrier(text):
    assert detect_carrier(text) is None


# -- what a scanner reads off a label -----------------------------------------------------------------

@pytest.mark.parametrize("barcode,number", [
    # USPS IMpb: "420" + destination ZIP (5 digits) + the tracking number
    ("42084101" + "9400111899223197428490", "9400111899223197428490"),
    ("420 84101 9400 1118 9922 3197 4284 90", "9400111899223197428490"),
    ("420221539101026837331000039521", "9101026837331000039521"),
    # ... or ZIP+4 (9 digits)
    ("4201002334249200190132607600833457", "9200190132607600833457"),
    ("4201028200009261290113185417468510", "9261290113185417468510"),
    # a ZIP+4 whose add-on starts 92-95 must not be read as the start of a 26-digit number
    ("420841019312" + "9400111899223197428490", "9400111899223197428490"),
    ("420841019499" + "9205500000000000000001", "9205500000000000000001"),
    # the GS1 separator (FNC1, \x1d) between the routing code and the number, as many scanners send it
    ("42084101\x1d9400111899223197428490", "9400111899223197428490"),
    ("420841019312\x1d9400111899223197428490", "9400111899223197428490"),
    ("42084101\x1d92748931507708513018050063", "92748931507708513018050063"),
    # FedEx's 34-digit barcode: the last 12 digits are the tracking number
    ("1001921334250001000300779017972697", "779017972697"),
    ("9622001900000000000000776632517510", "776632517510"),
    # anything else is the number itself, tidied
    ("1z999aa1 0123 456784", "1Z999AA10123456784"),
    ("9400-1118-9922-3197-4284-90", "9400111899223197428490"),
    ("986578788855", "986578788855"),
])
def test_label_tracking_number(barcode, number):
    assert label_tracking_number(barcode) == number
    assert looks_like_tracking(barcode)


@pytest.mark.parametrize("barcode,carrier", [
    ("42084101" + "9400111899223197428490", "usps"),
    ("4201002334249200190132607600833457", "usps"),
    ("1001921334250001000300779017972697", "fedex"),
    ("1Z999AA10123456784", "ups"),
])
def test_carrier_of_a_label_barcode(barcode, carrier):
    assert detect_carrier(label_tracking_number(barcode)) == carrier


@pytest.mark.parametrize("text", ["", "A1001", "A1001B", "BATCH1", "BADGESAM", "hello", "42084101", "420",
                                  "https://shop.test/jobs/A1001B"])
def test_not_tracking(text):
    assert not looks_like_tracking(text)


def test_normalise_tracking():
    assert normalise_tracking(" 1z 999-aa1\t0123456784 ") == "1Z999AA10123456784"
    assert normalise_tracking(None) == ""


@pytest.mark.parametrize("number,valid", [
    ("1Z999AA10123456784", True), ("A", True), ("9" * 64, True), ("", False), ("9" * 65, False),
    ("1Z999\x00AA1", False), ("1Z\ud800", False), ("1Z999.AA1", False), ("ÄB12", False)])
def test_a_tracking_number_is_1_to_64_letters_and_digits(number, valid):
    assert valid_tracking(number) is valid


@pytest.mark.parametrize("carrier,number,url", [
    ("ups", "1Z999AA10123456784", "https://www.ups.com/track?tracknum=1Z999AA10123456784"),
    ("usps", "9400111899223197428490", "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899223197428490"),
    ("fedex", "986578788855", "https://www.fedex.com/fedextrack/?trknbr=986578788855"),
    ("other", "X1", None),
])
def test_tracking_url(carrier, number, url):
    assert tracking_url(carrier, number) == url


def test_every_carrier_has_a_name():
    assert set(CARRIERS) == set(CARRIER_NAMES)
