256 SHA256:7dfm/AN8UheNhcsW44A6WJI8IV2OMSzYm4qa1S2QwTo skgate vectors ecdsa-sk (ECDSA-SK)
