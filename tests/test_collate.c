/* trainer/collate: Sentence Transformers' prompt rules (data_collator.py)
 * and the packed column-major batch they produce. */
#include "model/st_model.h"
#include "tests/check.h"
#include "trainer/collate.h"
#include "util/error.h"

#include <string.h>

static const char *prompt_of(stc_collator *c, const char *json, int multi, const char *dataset, const char *col,
                             int *rc)
{
    static cJSON *p;
    cJSON_Delete(p);
    p = cJSON_Parse(json);
    c->prompts = p;
    c->multi_dataset = multi;
    const char *out = NULL;
    *rc = stc_collator_prompt(c, dataset, col, &out);
    return out;
}

static int streq(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

int main(void)
{
    stc_st_model m;
    if (stc_st_model_load(&m, "fixtures/encode/tiny-bert")) {
        fprintf(stderr, "%s\n", stc_error_message());
        return 1;
    }
    stc_collator c;
    CHECK(stc_collator_init(&c, &m, NULL, 0, 16, 8) == 0);
    int rc;
    /* A string: every column. */
    CHECK(streq(prompt_of(&c, "\"query: \"", 0, NULL, "anchor", &rc), "query: ") && rc == 0);
    /* {column: prompt}: only the named columns. */
    CHECK(streq(prompt_of(&c, "{\"anchor\": \"q: \"}", 0, NULL, "anchor", &rc), "q: "));
    CHECK(streq(prompt_of(&c, "{\"anchor\": \"q: \"}", 0, NULL, "positive", &rc), NULL));
    /* {dataset: prompt} and {dataset: {column: prompt}} with several datasets. */
    CHECK(streq(prompt_of(&c, "{\"nli\": \"n: \", \"qa\": {\"question\": \"q: \"}}", 1, "nli", "x", &rc), "n: "));
    CHECK(streq(prompt_of(&c, "{\"nli\": \"n: \", \"qa\": {\"question\": \"q: \"}}", 1, "qa", "question", &rc), "q: "));
    CHECK(streq(prompt_of(&c, "{\"nli\": \"n: \", \"qa\": {\"question\": \"q: \"}}", 1, "qa", "answer", &rc), NULL));
    /* A dataset not named in nested prompts gets none; nested prompts with a
     * single dataset are an error, as in Python. */
    CHECK(streq(prompt_of(&c, "{\"qa\": {\"question\": \"q: \"}}", 1, "other", "question", &rc), NULL) && rc == 0);
    prompt_of(&c, "{\"qa\": {\"question\": \"q: \"}}", 0, NULL, "question", &rc);
    CHECK(rc == STC_ERR_USAGE && strstr(stc_error_message(), "nested"));

    /* A batch: 2 columns x 2 rows, column-major; the anchor column carries a
     * prompt whose tokens (with [CLS]) are the skip count. Prompt lengths
     * are passed on only when the Pooling leaves the prompt out, as
     * Python's collator adds them only then: first a Pooling that keeps it. */
    prompt_of(&c, "{\"anchor\": \"query: \"}", 0, NULL, "anchor", &rc);
    const char *cols[2] = {"anchor", "positive"};
    const char *texts[4] = {"the cat", "a dog", "cat", "dog"};
    size_t lens[4] = {7, 5, 3, 3};
    CHECK(m.modules[m.pooling_module].pooling.include_prompt == 1);
    CHECK(stc_collate(&c, NULL, cols, 2, 2, texts, lens, NULL, NULL) == 0);
    CHECK(c.batch.skip[0] == 0 && c.batch.skip[1] == 0);
    m.modules[m.pooling_module].pooling.include_prompt = 0;
    CHECK(stc_collate(&c, NULL, cols, 2, 2, texts, lens, NULL, NULL) == 0);
    const stc_token_batch *b = &c.batch;
    CHECK(b->B == 4 && b->cu_seqlens[4] == b->T);
    /* The prompt alone: [CLS] query : [SEP] -> skip = tokens - 1. */
    int32_t ids[16];
    int np = 0;
    CHECK(stc_tokenizer_encode(m.tokenizer, "query: ", 7, 16, ids, NULL, &np, NULL, NULL) == 0);
    CHECK(b->skip[0] == np - 1 && b->skip[1] == np - 1 && b->skip[2] == 0 && b->skip[3] == 0);
    /* Anchor sequences start with the prompt's tokens. */
    for (int k = 0; k < np - 1; k++)
        CHECK(b->ids[b->cu_seqlens[0] + k] == ids[k] && b->ids[b->cu_seqlens[1] + k] == ids[k]);
    /* Positions restart at 0 for every text. */
    for (int s = 0; s < 4; s++)
        CHECK(b->pos[b->cu_seqlens[s]] == 0);
    /* Capacity is enforced. */
    const char *many[10] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    size_t ml[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(stc_collate(&c, NULL, cols, 2, 5, many, ml, NULL, NULL) == STC_ERR_INTERNAL);
    prompt_of(&c, "null", 0, NULL, "x", &rc);
    stc_collator_free(&c);
    stc_st_model_free(&m);
    return check_report("test_collate");
}
