import pytest

from babellens.errors import InvalidInputError
from babellens.safety import DEFAULT_LANGS, bundled_concepts, concept_languages, load_concept


def test_bundled_concepts_are_the_three_of_the_issue_in_seven_languages():
    assert bundled_concepts() == ["hallucination", "refusal", "sycophancy"]
    for concept in bundled_concepts():
        assert concept_languages(concept) == sorted(DEFAULT_LANGS)


@pytest.mark.parametrize("concept", ["refusal", "sycophancy", "hallucination"])
def test_every_language_has_the_same_items_and_splits(concept):
    english = load_concept(concept, "en")
    english_texts = {
        v for i in english.items for k, v in i.model_dump().items() if k not in ("id", "split")
    }
    for lang in DEFAULT_LANGS:
        data = load_concept(concept, lang)
        assert [(i.id, i.split) for i in data.items] == [(i.id, i.split) for i in english.items]
        assert len(data.items) == 64
        texts = [
            v for i in data.items for k, v in i.model_dump().items() if k not in ("id", "split")
        ]
        assert all(t.strip() for t in texts)
        if lang != "en":  # translated, not copied
            assert not set(texts) & english_texts


def test_split_sizes_meet_the_issue():
    refusal = load_concept("refusal", "bg")
    assert (len(refusal.split("train")), len(refusal.split("test"))) == (24, 40)
    for concept in ("sycophancy", "hallucination"):
        data = load_concept(concept, "zh")
        assert (len(data.split("train")), len(data.split("test"))) == (14, 50)


@pytest.mark.parametrize("concept", ["sycophancy", "hallucination"])
def test_answer_letters_are_balanced_in_each_split(concept):
    data = load_concept(concept, "ru")
    for split in ("train", "test"):
        letters = [i.matching_letter for i in data.split(split)]
        assert letters.count("A") == letters.count("B")
    item = data.split("test")[0]
    a, b = item.options()
    assert (a if item.matching_letter == "A" else b) == item.matching


def test_unknown_concept_and_language_name_what_there_is(tmp_path):
    with pytest.raises(InvalidInputError, match="available are hallucination, refusal, sycophancy"):
        load_concept("self-harm", "en")
    with pytest.raises(InvalidInputError, match="no language 'ja'"):
        load_concept("refusal", "ja")


def test_a_user_concept_in_the_documented_format_loads(tmp_path):
    folder = tmp_path / "politeness"
    folder.mkdir()
    lines = [
        '{"id": 1, "split": "train", "question": "Q1", "matching": "m", "other": "o"}',
        '{"id": 2, "split": "test", "question": "Q2", "matching": "m2", "other": "o2"}',
    ]
    (folder / "en.jsonl").write_text("\n".join(lines), encoding="utf-8")
    data = load_concept("politeness", "en", tmp_path)
    assert data.kind == "ab"
    assert [i.matching_letter for i in data.items] == ["A", "B"]
    assert data.items[1].options() == ("o2", "m2")
