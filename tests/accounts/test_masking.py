from accounts.masking import mask_name, mask_national_id, mask_phone


def test_a_chinese_name_keeps_only_the_family_name():
    assert mask_name("林晓雯") == "林**"
    assert mask_name("赵敏") == "赵*"


def test_a_latin_name_keeps_initials():
    assert mask_name("Ada Lovelace") == "A** L*******"


def test_a_phone_keeps_prefix_and_last_four():
    assert mask_phone("13812345678") == "138****5678"


def test_an_id_number_keeps_region_and_last_four():
    assert mask_national_id("11010119900101123X") == "1101**********123X"


def test_short_values_are_masked_whole():
    assert mask_phone("12345") == "*****"
    assert mask_national_id("1234") == "****"
    assert mask_name("") == ""
