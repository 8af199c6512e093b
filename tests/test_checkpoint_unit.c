/* trainer/checkpoint.c on its own (one rank): a committed folder verifies
 * and lists; a file that rank 0 cannot see at commit time (another rank's
 * file on a file system rank 0 does not share) fails the checkpoint with a
 * clear message and leaves no folder; a changed byte fails verification;
 * rotation keeps the best checkpoint. */
#include "check.h"
#include "dist/comm.h"
#include "trainer/checkpoint.h"
#include "util/error.h"
#include "util/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[256];

static char *at(const char *rel)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", root, rel);
    return buf;
}

/* A checkpoint of step with two files; hide: unlink one before commit. */
static int save(const stc_comm *c, int64_t step, int hide)
{
    stc_ckpt_writer *w;
    int rc = stc_ckpt_begin(&w, c, root, step);
    if (rc)
        return rc;
    const char a[] = "weights", b[] = "optimizer shard";
    int ok = stc_ckpt_put(w, "model.bin", a, sizeof a) == 0 && stc_ckpt_put(w, "opt.bin", b, sizeof b) == 0;
    if (hide) {
        char p[600];
        snprintf(p, sizeof p, "%s/opt.bin", stc_ckpt_tmp_dir(w));
        unlink(p);
    }
    return stc_ckpt_commit(w, ok, NULL);
}

int main(int argc, char **argv)
{
    stc_comm c;
    CHECK(stc_comm_init(&c, &argc, &argv) == 0);
    snprintf(root, sizeof root, "/tmp/stc-ckpt-unit-%d", (int)getpid());
    CHECK(stc_remove_tree(root) == 0);
    CHECK(stc_mkdir_p(root) == 0);

    /* 1. A complete checkpoint. */
    CHECK(save(&c, 4, 0) == 0);
    int64_t step = 0;
    int world = 0;
    CHECK(stc_ckpt_verify(at("checkpoint-4"), &step, &world) == 0);
    CHECK(step == 4 && world == 1);
    CHECK(stc_is_file(at("checkpoint-4/manifest.json")));
    CHECK(!stc_is_dir(at(".tmp-checkpoint-4")));

    /* 2. A file rank 0 cannot see: no checkpoint, a message saying why. */
    CHECK(save(&c, 8, 1) != 0);
    CHECK(strstr(stc_error_message(), "must be on a file system every rank shares") != NULL);
    CHECK(!stc_is_dir(at("checkpoint-8")) && !stc_is_dir(at(".tmp-checkpoint-8")));

    /* 3. A changed byte (same size) fails verification, naming the file. */
    FILE *f = fopen(at("checkpoint-4/opt.bin"), "r+b");
    CHECK(f != NULL);
    if (f) {
        fputc('X', f);
        fclose(f);
    }
    CHECK(stc_ckpt_verify(at("checkpoint-4"), &step, &world) != 0);
    CHECK(strstr(stc_error_message(), "opt.bin: content does not match") != NULL);

    /* 4. Rotation, limit 2, best = checkpoint-12: 12 survives 16 and 20. */
    for (int64_t s = 12; s <= 20; s += 4)
        CHECK(save(&c, s, 0) == 0);
    CHECK(stc_ckpt_rotate(root, 2, at("checkpoint-12")) == 0);
    CHECK(!stc_is_dir(at("checkpoint-4")) && stc_is_dir(at("checkpoint-12")) && !stc_is_dir(at("checkpoint-16")) &&
          stc_is_dir(at("checkpoint-20")));
    /* Limit 1 with the best not the newest keeps both (Python). */
    CHECK(save(&c, 24, 0) == 0);
    CHECK(stc_ckpt_rotate(root, 1, at("checkpoint-12")) == 0);
    CHECK(stc_is_dir(at("checkpoint-12")) && stc_is_dir(at("checkpoint-24")) && !stc_is_dir(at("checkpoint-20")));
    CHECK(stc_ckpt_keep_only(root, at("checkpoint-12")) == 0);
    CHECK(stc_is_dir(at("checkpoint-12")) && !stc_is_dir(at("checkpoint-24")));

    stc_remove_tree(root);
    stc_comm_finalize(&c);
    return check_report("test_checkpoint_unit");
}
