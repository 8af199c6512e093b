/* util/: error messages and atomic file writes. */
#include "tests/check.h"
#include "util/error.h"
#include "util/fileio.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    int rc = stc_errorf(STC_ERR_DATA, "%s: line %d: bad", "x.jsonl", 7);
    CHECK(rc == STC_ERR_DATA);
    CHECK(strcmp(stc_error_message(), "x.jsonl: line 7: bad") == 0);
    stc_error_prefix(rc, "loading %s", "model");
    CHECK(strcmp(stc_error_message(), "loading model: x.jsonl: line 7: bad") == 0);

    char path[] = "/tmp/stc_test_util_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(stc_write_file_atomic(path, "hello", 5) == 0);
    char *data;
    size_t len;
    CHECK(stc_read_file(path, &data, &len) == 0);
    CHECK(len == 5 && memcmp(data, "hello", 5) == 0 && data[5] == '\0');
    free(data);
    unlink(path);
    CHECK(stc_read_file(path, &data, &len) == STC_ERR_IO);
    CHECK(strstr(stc_error_message(), path) != NULL);

    char *j = stc_path_join("a/b", "c.json");
    CHECK(strcmp(j, "a/b/c.json") == 0);
    free(j);
    j = stc_path_join("a/", "c");
    CHECK(strcmp(j, "a/c") == 0);
    free(j);
    return check_report("test_util");
}
