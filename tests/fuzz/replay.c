/* Replays a fuzzer's seed corpus (every file in the directories given) so
 * the corpus runs as an ordinary test, under ASan/UBSan when the build has
 * them. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                perror(path);
                return -1;
        }
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (len == cap) {
                        cap = cap ? cap * 2 : 4096;
                        uint8_t *n = realloc(buf, cap);
                        if (!n) {
                                free(buf);
                                fclose(f);
                                return -1;
                        }
                        buf = n;
                }
                size_t r = fread(buf + len, 1, cap - len, f);
                if (r == 0)
                        break;
                len += r;
        }
        fclose(f);
        /* An exact-size copy so ASan catches reads past the input. */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) {
                free(buf);
                return -1;
        }
        if (len)
                memcpy(exact, buf, len);
        free(buf);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        return 0;
}

int main(int argc, char **argv)
{
        int files = 0;
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        perror(argv[i]);
                        return 1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        if (run_file(argv[i]) < 0)
                                return 1;
                        files++;
                        continue;
                }
                struct dirent **ents;
                int n = scandir(argv[i], &ents, NULL, alphasort);
                if (n < 0) {
                        perror(argv[i]);
                        return 1;
                }
                for (int k = 0; k < n; k++) {
                        char path[4096];
                        if (ents[k]->d_name[0] != '.') {
                                snprintf(path, sizeof(path), "%s/%s", argv[i], ents[k]->d_name);
                                if (run_file(path) < 0)
                                        return 1;
                                files++;
                        }
                        free(ents[k]);
                }
                free(ents);
        }
        printf("replayed %d inputs\n", files);
        return files > 0 ? 0 : 1;
}
