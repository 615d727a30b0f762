from babellens.jobs import run_job
from babellens.store import JobStore, open_database
from babellens.store.dictionaries import DictionaryStore
from dictionary_fakes import write_corpus


def test_dict_train_job_stores_the_dictionary_with_provenance_and_held_out_metrics(
    model_folder, tmp_path
):
    db = open_database()
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    params = {
        "hook": "resid_post.1",
        "width": 48,
        "k": 4,
        "corpus": corpus,
        "window_len": 32,
        "batch_size": 64,
        "chunk_tokens": 256,
        "lr": 3e-3,
        "eval_tokens": 256,
        "seed": 3,
    }
    job = JobStore(db).create("dict_train", model_folder, params)
    done = run_job(db, job.id)
    assert done.status == "done", done.error
    info = DictionaryStore(db).get(done.summary["dictionary_id"])
    assert (info.model, info.hook_in, info.width, info.k, info.seed) == (
        model_folder,
        "resid_post.1",
        48,
        4,
        3,
    )
    assert info.tokens_trained > 0 and info.job_id == job.id and info.corpus == corpus
    evaluated = info.metrics["eval"]
    assert evaluated["split"] == "test" and 0 < evaluated["fvu"] < 1
    assert evaluated["ce_clean"] is not None and evaluated["l0"] <= 4
    assert done.summary["fvu"] == evaluated["fvu"]
