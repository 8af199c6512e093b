/*
 * What the evaluator files share and trainer/evaluator.h does not show.
 *
 *   evaluator.c       the public API: config (one object or a list, i.e. a
 *                     SequentialEvaluator), metric names, stc_metrics
 *   eval_args.c       typed reads of an evaluator object's arguments
 *   eval_texts.c      text lists (owned bytes) and their de-duplication
 *   eval_embed.c      encode / encode_query / encode_document across ranks
 *   eval_sim.c        the similarity functions by Python's names
 *   eval_stats.c      Pearson, Spearman, AP, MCC, best thresholds
 *   eval_csv.c        Python's CSV files (header once, a row per call)
 *   eval_data.c       the pair evaluators' rows: a dataset file or inline
 *   eval_topk.c       bounded best-k lists (retrieval, mining)
 *   eval_beir.c       BEIR queries / corpus / qrels files, "_id"/"text" records
 *   eval_ir.c         InformationRetrievalEvaluator
 *   eval_similarity.c EmbeddingSimilarityEvaluator
 *   eval_triplet.c    TripletEvaluator
 *   eval_binary.c     BinaryClassificationEvaluator
 *   eval_reranking.c  RerankingEvaluator
 *   eval_mse.c        MSEEvaluator
 *   eval_paraphrase.c ParaphraseMiningEvaluator
 *   eval_translation.c TranslationEvaluator
 *
 * A family (one Python class) parses its object at creation and, per call,
 * appends its metrics unprefixed ("cosine_ndcg@10") and its primary metric's
 * name to a stc_metrics; evaluator.c adds "{name}_" as Python's
 * prefix_name_to_metrics does.
 */
#ifndef STC_TRAINER_EVAL_INTERNAL_H
#define STC_TRAINER_EVAL_INTERNAL_H

#include "trainer/evaluator.h"

#include <stddef.h>
#include <stdint.h>

/* ---- one call ------------------------------------------------------------ */

/* What a family's run sees: the model, the ranks, and the arguments every
 * Python evaluator has. */
typedef struct {
    const stc_st_model *model;
    const stc_comm *comm;
    const char *csv_dir;  /* NULL: write no CSV (not rank 0, write_csv false, or no directory) */
    double epoch;         /* Python's epoch (-1 outside training) */
    int64_t steps;        /* Python's steps (-1 outside training) */
    const char *name;     /* the evaluator's "name" ("" if none): CSV file names */
    int batch_size;       /* texts per forward pass */
    int truncate_dim;     /* 0: the model's dimension */
} stc_eval_call;

typedef struct {
    const char *type;             /* Python class name, the config's "type" */
    const char *const *keys;      /* its arguments besides the common ones (evaluator.c), NULL-terminated */
    int default_batch_size;       /* the Python class's default */
    /* Parses spec (keys already checked) and reads its files; where names
     * the evaluator in messages ("cfg.json: evaluator[1] (TripletEvaluator)"). */
    int (*create)(void **impl, const cJSON *spec, const char *where);
    /* One evaluation: appends unprefixed metrics to out and sets out->primary. */
    int (*run)(void *impl, const stc_eval_call *call, stc_metrics *out);
    void (*free)(void *impl);
} stc_eval_family;

extern const stc_eval_family stc_eval_ir_family;
extern const stc_eval_family stc_eval_similarity_family;
extern const stc_eval_family stc_eval_triplet_family;
extern const stc_eval_family stc_eval_binary_family;
extern const stc_eval_family stc_eval_reranking_family;
extern const stc_eval_family stc_eval_mse_family;
extern const stc_eval_family stc_eval_paraphrase_family;
extern const stc_eval_family stc_eval_translation_family;

/* ---- arguments (eval_args.c) ----------------------------------------------- */

/* Each getter leaves *out as it is when the key is absent or null (set the
 * Python default first); a wrong type or value is STC_ERR_USAGE naming
 * where and the key. */

/* A list of positive integers (mrr_at_k, ...); *ks malloc'd, *n >= 1. */
int stc_eval_get_ks(const cJSON *spec, const char *key, const char *where, int **ks, int *n);
/* A list of strings (inline texts); *arr untouched (NULL) when absent. */
int stc_eval_get_strings(const cJSON *spec, const char *key, const char *where, const cJSON **arr);
/* A positive integer. */
int stc_eval_get_positive(const cJSON *spec, const char *key, const char *where, int *out);

/* ---- similarity functions (eval_sim.c) ------------------------------------ */

typedef enum { STC_SIM_COSINE = 0, STC_SIM_DOT, STC_SIM_EUCLIDEAN, STC_SIM_MANHATTAN, STC_SIM_COUNT } stc_sim_fn;

/* Python's SimilarityFunction values: "cosine", "dot", "euclidean",
 * "manhattan". */
int stc_sim_parse(const char *s, stc_sim_fn *out);
const char *stc_sim_name(stc_sim_fn f);
/* One name (key's value, a string) into *out; absent or null: *out
 * untouched. */
int stc_sim_get(const cJSON *spec, const char *key, const char *where, int *out);
/* The functions an evaluator scores with, as its Python class picks them:
 * the list argument (similarity_fn_names, score_functions), else [the main
 * function] where the class does that, else the model's
 * similarity_fn_name, resolved per call. */
typedef struct {
    stc_sim_fn fn[STC_SIM_COUNT]; /* the list, no repeats */
    int n;                        /* 0: the model's */
    int main_fn;                  /* the main function (main_similarity, ...), -1: none */
} stc_sim_set;

/* Reads list_key (a list of names) and main_key (a name; NULL: the class
 * has none); main_fills_list: an empty list becomes [main]. */
int stc_sim_set_parse(stc_sim_set *s, const cJSON *spec, const char *where, const char *list_key,
                      const char *main_key, int main_fills_list);
/* The model's similarity function (model.similarity: similarity_fn_name,
 * cosine when unset). */
int stc_sim_model_fn(const stc_st_model *model, stc_sim_fn *out);
/* The functions of one call into fns[STC_SIM_COUNT], *n >= 1. */
int stc_sim_set_resolve(const stc_sim_set *s, const stc_st_model *model, stc_sim_fn *fns, int *n);
/* The pair evaluators' primary metric: fmt ("spearman_%s") of the main
 * function if there is one, else max_key with several functions, else fmt
 * of the only one. */
void stc_sim_set_primary(const stc_sim_set *s, const stc_sim_fn *fns, int n, const char *fmt, const char *max_key,
                         stc_metrics *out);
/* Python's max() of v[0], v[stride], ... (n values): the first of equals;
 * NaN never replaces a value, as comparisons with NaN are false. */
double stc_eval_first_max(const double *v, int n, int stride);

/* Python's pairwise_{cos_sim,dot_score,euclidean_sim,manhattan_sim} of
 * a[i] and b[i] ([D] each), computed in double and returned as the float32
 * torch gives. Euclidean and manhattan are negative distances. */
float stc_sim_pair(stc_sim_fn f, const float *a, const float *b, int D);
/* The same functions in float32 with a fixed summation order (8 lanes,
 * then a fixed tree), for scoring many pairs: the same pair gives the same
 * bits whatever the chunk, slice or thread, so identical texts tie exactly,
 * and score(a, b) == score(b, a). Cosine expects rows normalised by
 * stc_sim_normalize_rows (it is then the dot product). */
float stc_sim_score(stc_sim_fn f, const float *a, const float *b, int D);
/* F.normalize in place: each of the n rows of x ([n, D]) / max(||row||, 1e-12). */
void stc_sim_normalize_rows(float *x, size_t n, int D);

/* ---- best-k lists (eval_topk.c) ---------------------------------------------- */

typedef struct {
    float s;      /* score */
    uint32_t doc; /* corpus row */
} stc_eval_hit;

/* Offers x to the best-k list h (*n entries, at most cap): higher score
 * first, equal scores by rank[doc] ascending (rank NULL: by doc). */
void stc_eval_topk_push(stc_eval_hit *h, int *n, int cap, stc_eval_hit x, const size_t *rank);
/* Empties the list into best-first order (in place). */
void stc_eval_topk_sort(stc_eval_hit *h, int n, const size_t *rank);

/* ---- statistics (eval_stats.c) --------------------------------------------- */

/* scipy.stats.pearsonr / spearmanr (average ranks for ties): NaN when
 * either input is constant, as scipy. */
double stc_stat_pearson(const double *x, const double *y, size_t n);
double stc_stat_spearman(const double *x, const double *y, size_t n);

/* sklearn's average_precision_score(labels, scores) of binary labels. */
double stc_stat_average_precision(const int *labels, const float *scores, size_t n);
/* sklearn's matthews_corrcoef of binary labels and predictions. */
double stc_stat_mcc(const int *labels, const int *pred, size_t n);

/* BinaryClassificationEvaluator.find_best_acc_and_threshold and
 * find_best_f1_and_threshold on float32 scores (greater: higher score =
 * more similar). Thresholds are float32 as numpy computes them; *_set is 0
 * when Python leaves its integer initial value (0) in place, so the CSV can
 * print "0" as Python does. */
typedef struct {
    double accuracy;
    float accuracy_threshold;
    double f1, precision, recall;
    float f1_threshold;
    int f1_set;  /* 0: no threshold gave F1 > 0 (Python's ints 0 remain) */
} stc_stat_thresholds;
void stc_stat_best_thresholds(const float *scores, const int *labels, size_t n, int greater, stc_stat_thresholds *out);

/* ---- text lists (eval_texts.c) ---------------------------------------------- */

typedef struct {
    size_t n;              /* texts */
    const char **texts;    /* (n) after stc_eval_texts_finish: into buf, NUL-terminated */
    size_t *lens;          /* (n) byte lengths (a text may hold NUL bytes) */
    /* Internal. */
    char *buf;
    size_t buf_len, buf_cap, cap;
    size_t *offs;
} stc_eval_texts;

void stc_eval_texts_init(stc_eval_texts *t);
void stc_eval_texts_free(stc_eval_texts *t);
int stc_eval_texts_push(stc_eval_texts *t, const char *s, size_t len);
/* Sets texts[] (call after the last push). */
int stc_eval_texts_finish(stc_eval_texts *t);
/* The distinct texts of t in first-seen order into *uniq (initialised
 * here), and idx[i] = the position of t's text i in *uniq. */
int stc_eval_texts_unique(const stc_eval_texts *t, stc_eval_texts *uniq, size_t *idx);

/* ---- encoding across ranks (eval_embed.c) ------------------------------------- */

typedef enum {
    STC_EVAL_ENCODE = 0,     /* model.encode */
    STC_EVAL_ENCODE_QUERY,   /* model.encode_query: prompt "query" if the model has one, task "query" */
    STC_EVAL_ENCODE_DOCUMENT /* model.encode_document: prompt document|passage|corpus, task "document" */
} stc_eval_encode_fn;

typedef struct {
    stc_eval_encode_fn fn;
    const char *prompt;      /* NULL: none given */
    const char *prompt_name; /* NULL: none given */
} stc_eval_encode_opts;

/* Embeds t's texts with call->batch_size and call->truncate_dim into *out
 * ([t->n, *dim], malloc'd) on every rank. The texts are cut into batches
 * of batch_size from the start, each encoded by one encoder call; rank r
 * encodes a contiguous run of batches (stc_eval_rank_slice) and the runs
 * are all-gathered, so every rank holds every embedding, bit for bit the
 * same on any number of ranks. */
int stc_eval_embed(const stc_eval_call *call, const stc_eval_encode_opts *o, const stc_eval_texts *t, float **out,
                   int *dim);

/* The k columns cols[0..k) (n texts each) with one encode, each distinct
 * text embedded once: emb[c] ([n, *dim], malloc'd) holds column c's
 * embeddings. */
int stc_eval_embed_columns(const stc_eval_call *call, const stc_eval_encode_opts *o, const stc_eval_texts *cols,
                           int k, float **emb, int *dim);

/* This rank's contiguous slice of n rows cut in units of `unit` rows (the
 * last unit may be short): rank r gets units [U r / P, U (r + 1) / P) of
 * U = ceil(n / unit). */
void stc_eval_rank_slice(const stc_comm *comm, size_t n, size_t unit, size_t *begin, size_t *count);
/* All-gathers per-rank row slices in place: buf holds n rows of `width`
 * values, each rank having filled its stc_eval_rank_slice(n, unit);
 * afterwards every rank holds all n rows. */
int stc_eval_allgather_rows_f32(const stc_comm *comm, float *buf, size_t n, size_t unit, size_t width);
int stc_eval_allgather_rows_f64(const stc_comm *comm, double *buf, size_t n, size_t unit, size_t width);

/* ---- CSV files (eval_csv.c) ---------------------------------------------------- */

/* A growing list of strings (CSV headers and fields). */
typedef struct {
    char **s;
    int n, cap;
} stc_eval_strs;

void stc_eval_strs_free(stc_eval_strs *l);
int stc_eval_strs_push(stc_eval_strs *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Python's str() of a float / np.float32 value. */
int stc_eval_strs_push_f64(stc_eval_strs *l, double v);
int stc_eval_strs_push_f32(stc_eval_strs *l, float v);
/* Every CSV's first two columns: header "epoch", "steps"; row the call's
 * epoch and steps as Python prints them. STC_ERR_NOMEM or 0. */
int stc_eval_csv_begin(stc_eval_strs *header, stc_eval_strs *row, const stc_eval_call *call);

/* Python's "{prefix}_{name}_results.csv" ("{prefix}_results.csv" without
 * a name) under call->csv_dir: writes the header first when the file does
 * not exist, then appends row. crlf: the file is written by Python's
 * csv.writer ("\r\n" line ends); else by ",".join ("\n"). Does nothing when
 * call->csv_dir is NULL. */
int stc_eval_csv_append(const stc_eval_call *call, const char *prefix, const stc_eval_strs *header,
                        const stc_eval_strs *row, int crlf);
/* The same with the whole file name (the classes whose names do not
 * follow the pattern). */
int stc_eval_csv_append_file(const stc_eval_call *call, const char *file, const stc_eval_strs *header,
                             const stc_eval_strs *row, int crlf);

/* ---- evaluation files (eval_data.c) ------------------------------------------ */

typedef struct stc_dataset stc_dataset;
/* Opens a JSONL/CSV/TSV file with data/dataset.h, its row index kept in
 * memory (evaluation files are read once; a read-only data directory must
 * not matter); errors are prefixed with where and key. */
int stc_eval_open_dataset(stc_dataset **ds, const char *path, const char *where, const char *key);
/* Every row of ds: the texts of text columns cols[0..nc) into out[0..nc)
 * (finished), and the scalar label into *labels (malloc'd) if labels. */
int stc_eval_read_columns(const stc_dataset *ds, const int *cols, int nc, stc_eval_texts *out, double **labels);

/* ---- the pair evaluators' rows (eval_data.c) --------------------------------- */

enum { STC_EVAL_MAX_COLUMNS = 3 };

typedef struct {
    size_t n;                                 /* rows */
    int n_text;                               /* text columns */
    stc_eval_texts col[STC_EVAL_MAX_COLUMNS]; /* col[c]: the texts of column c */
    double *labels;                           /* (n) scores / labels; NULL when the evaluator has none */
} stc_eval_rows;

/* Reads spec's rows: "dataset": a JSONL/CSV/TSV path whose text columns in
 * file order are text_keys (and whose label column, when label_key is
 * given, is the label), or the inline arrays text_keys[...] (and
 * label_key), as Python's arguments are named. Exactly one of the two;
 * every column the same length; at least one row. */
int stc_eval_rows_load(stc_eval_rows *r, const cJSON *spec, const char *where, int n_text,
                       const char *const *text_keys, const char *label_key);
void stc_eval_rows_free(stc_eval_rows *r);

/* ---- BEIR retrieval sets (eval_beir.c) ----------------------------------------- */

/* An InformationRetrievalEvaluator's data as Python holds it: the queries
 * that have relevant documents (file order), the corpus (file order), and
 * per query its relevant documents. */
typedef struct {
    stc_eval_texts query_ids, queries;  /* (nq) kept queries: _id, text */
    stc_eval_texts corpus_ids, corpus;  /* (nc) _id, text */
    size_t *id_rank;                    /* (nc) position of corpus_ids[i] in ascending id order: Python's
                                         * tie-break (lower corpus_id first) */
    size_t *rel_off;                    /* (nq + 1) query q's relevant corpus rows: rel_doc[rel_off[q] ..
                                         * rel_off[q + 1]), ascending */
    size_t *rel_doc;
    size_t *n_rel;                      /* (nq) distinct relevant ids, also those not in the corpus
                                         * (Python's len(relevant_docs[qid])) */
} stc_eval_beir;

/* queries and corpus: JSONL with "_id" and "text" (other keys, e.g.
 * "title", are read and left out, as Python's evaluator takes the text);
 * qrels: TSV with the header "query-id corpus-id score", a pair relevant
 * when score > 0. A repeated _id, a missing column or a bad line is an
 * error naming the file (and line). */
/* "_id" and "text" of every record of a JSONL file (other fields are read
 * and left out); a missing field is an error naming where, key and path. */
int stc_eval_load_id_texts(const char *path, const char *where, const char *key, stc_eval_texts *ids,
                           stc_eval_texts *texts);
int stc_eval_beir_load(stc_eval_beir *b, const char *queries, const char *corpus, const char *qrels,
                       const char *where);
void stc_eval_beir_free(stc_eval_beir *b);

#endif
