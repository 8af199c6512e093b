/*
 * Texts to encode or tokenize, from a plain text file (one text per line;
 * an empty line is an empty text; "\r\n" endings accepted) or a JSONL file
 * (".jsonl": one JSON object per line, the text in a named string field;
 * blank lines are skipped). Record i of the file is text i.
 */
#ifndef STC_DATA_TEXT_INPUT_H
#define STC_DATA_TEXT_INPUT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t n;             /* number of texts */
    const char **texts;   /* (n) pointers into data; not NUL-terminated */
    size_t *lens;         /* (n) byte lengths */
    char *data;           /* owned bytes the texts point into */
    char *file;           /* owned file contents (JSONL: decoded separately) */
} stc_texts;

/* Reads path; text_field names the JSONL field (default "text"). A JSONL line
 * that is not an object with a string field is an error naming the file,
 * line and field. */
int stc_texts_load(stc_texts *t, const char *path, const char *text_field);
void stc_texts_free(stc_texts *t);

/* 1 if path names a JSONL file (by its extension). */
int stc_texts_is_jsonl(const char *path);

#ifdef __cplusplus
}
#endif

#endif
