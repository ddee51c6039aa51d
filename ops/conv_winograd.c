/* conv_winograd.c — 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3)
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
 *
 * A 4x4 input tile d and a 3x3 kernel g give the 2x2 output tile Y = A^T [U . V] A, with
 * U = G g G^T and V = B^T d B (. is the element-wise product). Summed over the C input channels,
 * each of the 16 positions k of the 4x4 transformed tile is one GEMM
 *     M_k[OC, T] = U_k[OC, C] V_k[C, T]        (T = tiles),
 * 16 multiplies per 2x2 outputs instead of 36: 2.25x fewer flops than im2col + GEMM, the
 * difference that matters for the mid-sized layers of a CNN (C, OC >= 8). The transforms only
 * add, subtract and halve, so results agree with direct convolution to float rounding.
 *
 * The backward pass is the exact gradient of this computation, every step transposed:
 *     dM_k = A dY A^T per tile,  dU_k += dM_k V_k^T,  dV_k = U_k^T dM_k,
 *     dW = G^T dU G,             dX += B dV B^T (overlapping tiles add up).
 * U is kept for the backward pass; V is recomputed from x chunk by chunk (x is 4x smaller than
 * V: keeping the whole batch's V was slower, by the memory traffic).
 *
 * Tiles are processed in chunks of whole images, about LB_WINO_TILES tiles a chunk, so that a
 * chunk's V and M stay in cache between the transforms and the GEMMs. Each image plane is first
 * copied into a zero-bordered plane of 2*TH+2 x 2*TW+2 floats, so every tile is read without
 * bounds checks; odd output sizes just drop the tiles' last row or column.
 *
 * Fusion (lb_graph_fuse): relu is applied as the output tiles are written, and 2x2 max pooling
 * pools each 2x2 output tile, which is exactly one pooling window; backward, the output gradient
 * of a tile is rebuilt from the pooled one. */
#include <cblas.h>

#include "ops_impl.h"

/* The rows and blocks copied here are a few floats: plain loops, not memcpy/memset calls. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

#ifndef LB_WINO_TILES
#define LB_WINO_TILES 128
#endif

typedef struct {
    int64_t N, C, OC, H, W, OH, OW, ph, pw;
    int64_t TH, TW, tpi; /* tiles down, across, per image */
    int64_t TWB, PH, PE; /* TW rounded up to 4; the padded plane's rows, entries per half-row */
    int64_t nb;          /* images per chunk */
    float *U;            /* [16][OC][C] transformed weights */
    int relu, pool;      /* fused (lb_graph_fuse): relu, then 2x2 max pooling of the output */
    int32_t *pos;        /* with pool: each window's maximum, its index in the plane */
    int64_t yhw;         /* the output plane: (OH / 2) * (OW / 2) with pool, else OH * OW */
} wgeom;

int lb_winograd_applies(int64_t C, int64_t OC, int KH, int KW, int sh, int sw, int dh, int dw, int ph, int pw) {
    return KH == 3 && KW == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && ph <= 2 && pw <= 2 &&
           C >= LB_WINO_MIN_C && OC >= LB_WINO_MIN_C;
}

/* U = G g G^T for every (oc, c), G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. */
static void weights_fw(const wgeom *q, const float *w, float *U) {
    int64_t S = q->OC * q->C;
    for (int64_t oc = 0; oc < q->OC; oc++)
        for (int64_t c = 0; c < q->C; c++) {
            const float *g = w + (oc * q->C + c) * 9;
            float t[4][3];
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            float *u = U + oc * q->C + c;
            for (int i = 0; i < 4; i++) {
                u[(4 * i + 0) * S] = t[i][0];
                u[(4 * i + 1) * S] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                u[(4 * i + 2) * S] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                u[(4 * i + 3) * S] = t[i][2];
            }
        }
}

/* gw += G^T dU G (the transpose of weights_fw). */
static void weights_bw(const wgeom *q, const float *dU, float *gw) {
    int64_t S = q->OC * q->C;
    for (int64_t oc = 0; oc < q->OC; oc++)
        for (int64_t c = 0; c < q->C; c++) {
            const float *u = dU + oc * q->C + c;
            float t[4][3];
            for (int i = 0; i < 4; i++) {
                float u0 = u[(4 * i) * S], u1 = u[(4 * i + 1) * S], u2 = u[(4 * i + 2) * S], u3 = u[(4 * i + 3) * S];
                t[i][0] = u0 + 0.5f * (u1 + u2);
                t[i][1] = 0.5f * (u1 - u2);
                t[i][2] = 0.5f * (u1 + u2) + u3;
            }
            float *d = gw + (oc * q->C + c) * 9;
            for (int j = 0; j < 3; j++) {
                d[j] += t[0][j] + 0.5f * (t[1][j] + t[2][j]);
                d[3 + j] += 0.5f * (t[1][j] - t[2][j]);
                d[6 + j] += 0.5f * (t[1][j] + t[2][j]) + t[3][j];
            }
        }
}

/* The transforms work on 4 tiles side by side, in fixed-size loops the compiler turns into
 * vector code. Tile tx of a row reads input columns 2tx .. 2tx+3, so each padded plane is kept
 * split into its even and odd columns, E[r][j] = P[r][2j] and O[r][j] = P[r][2j+1]: the four
 * tiles' values are then unit-stride runs E[tx..tx+4], O[tx..tx+4]. Rows have TWB + 1 entries
 * (TWB = TW rounded up to 4), so the last block reads zeros, not past the plane. */

/* The block of 4 tiles starting at tx: a last block past the row's end is moved back to end
 * at the row's end (*t0), redoing a few tiles (every block is stored with plain stores, so they
 * are rewritten with the same values); rows of fewer than 4 tiles take *n < 4 tiles. */
static inline void blk_at(int64_t tx, int64_t TW, int64_t *t0, int *n) {
    *t0 = tx;
    *n = 4;
    if (tx + 4 <= TW) return;
    if (TW >= 4) *t0 = TW - 4;
    else *n = (int)(TW - tx);
}

/* A block's 16 transformed values of up to 4 tiles: out[k][u]. Streams are S apart, tiles at
 * base + u; only the n valid tiles are stored or read. */
typedef float blk[16][4];

static inline void blk_store(const blk o, float *restrict v, int64_t S, int n) {
    if (n == 4) {
        for (int k = 0; k < 16; k++)
            for (int u = 0; u < 4; u++) v[k * S + u] = o[k][u];
    } else {
        for (int k = 0; k < 16; k++)
            for (int u = 0; u < n; u++) v[k * S + u] = o[k][u];
    }
}

static inline void blk_load(blk o, const float *restrict v, int64_t S, int n) {
    if (n == 4) {
        for (int k = 0; k < 16; k++)
            for (int u = 0; u < 4; u++) o[k][u] = v[k * S + u];
    } else {
        for (int k = 0; k < 16; k++)
            for (int u = 0; u < 4; u++) o[k][u] = u < n ? v[k * S + u] : 0.0f;
    }
}

/* The plane x[H, W], placed at (ph, pw) in a zero plane of PH rows, into its even and odd
 * columns E and O (rows PE apart). */
static void split_plane(const wgeom *q, const float *restrict x, float *restrict E, float *restrict O) {
    int64_t PE = q->PE, W = q->W, h = q->pw >> 1;
    for (int64_t i = 0; i < q->PH * PE; i++) E[i] = O[i] = 0;
    for (int64_t r = 0; r < q->H; r++) {
        const float *restrict s = x + r * W;
        float *restrict e = E + (r + q->ph) * PE + h, *restrict o = O + (r + q->ph) * PE + h;
        if (q->pw & 1) { /* x column 2j lands in an odd padded column, 2j + 1 in an even one */
            for (int64_t j = 0; 2 * j < W; j++) o[j] = s[2 * j];
            for (int64_t j = 0; 2 * j + 1 < W; j++) e[j + 1] = s[2 * j + 1];
        } else {
            for (int64_t j = 0; 2 * j < W; j++) e[j] = s[2 * j];
            for (int64_t j = 0; 2 * j + 1 < W; j++) o[j] = s[2 * j + 1];
        }
    }
}

/* gx[H, W] += the plane (E, O) at (ph, pw): the transpose of split_plane. */
static void merge_plane(const wgeom *q, const float *restrict E, const float *restrict O, float *restrict gx) {
    int64_t PE = q->PE, W = q->W, h = q->pw >> 1;
    for (int64_t r = 0; r < q->H; r++) {
        float *restrict d = gx + r * W;
        const float *restrict e = E + (r + q->ph) * PE + h, *restrict o = O + (r + q->ph) * PE + h;
        if (q->pw & 1) {
            for (int64_t j = 0; 2 * j < W; j++) d[2 * j] += o[j];
            for (int64_t j = 0; 2 * j + 1 < W; j++) d[2 * j + 1] += e[j + 1];
        } else {
            for (int64_t j = 0; 2 * j < W; j++) d[2 * j] += e[j];
            for (int64_t j = 0; 2 * j + 1 < W; j++) d[2 * j + 1] += o[j];
        }
    }
}

/* V = B^T d B of 4 tiles whose rows start at E, O (rows PE apart),
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
static inline void in_fw_blk(const float *restrict E, const float *restrict O, int64_t PE, blk out) {
    float t[4][4][4]; /* (d B)[a][b] of tile u */
    for (int a = 0; a < 4; a++) {
        const float *e = E + a * PE, *o = O + a * PE; /* d0 = e[u], d1 = o[u], d2 = e[u+1], d3 = o[u+1] */
        for (int u = 0; u < 4; u++) {
            t[a][0][u] = e[u] - e[u + 1];
            t[a][1][u] = o[u] + e[u + 1];
            t[a][2][u] = e[u + 1] - o[u];
            t[a][3][u] = o[u] - o[u + 1];
        }
    }
    for (int b = 0; b < 4; b++)
        for (int u = 0; u < 4; u++) {
            out[b][u] = t[0][b][u] - t[2][b][u];
            out[4 + b][u] = t[1][b][u] + t[2][b][u];
            out[8 + b][u] = t[2][b][u] - t[1][b][u];
            out[12 + b][u] = t[1][b][u] - t[3][b][u];
        }
}

/* The transpose, first half: (B dV) B^T of 4 tiles, stored by row a of the 4x4 tile and its
 * column b in Wr[(4a + b) * WL + u] (plain stores, so an overlapping last block is harmless). */
static inline void in_bw_blk(const blk in, float *restrict Wr, int64_t WL) {
    float t[4][4][4]; /* (B dV)[a][b] of tile u */
    for (int b = 0; b < 4; b++)
        for (int u = 0; u < 4; u++) {
            float v0 = in[b][u], v1 = in[4 + b][u], v2 = in[8 + b][u], v3 = in[12 + b][u];
            t[0][b][u] = v0;
            t[1][b][u] = v1 - v2 + v3;
            t[2][b][u] = v1 + v2 - v0;
            t[3][b][u] = -v3;
        }
    for (int a = 0; a < 4; a++) {
        float *w = Wr + 4 * a * WL;
        for (int u = 0; u < 4; u++) {
            w[u] = t[a][0][u];
            w[WL + u] = t[a][1][u] - t[a][2][u] + t[a][3][u];
            w[2 * WL + u] = t[a][1][u] + t[a][2][u] - t[a][0][u];
            w[3 * WL + u] = -t[a][3][u];
        }
    }
}

/* V[k][c][t] = (B^T d B)_k for the tiles of images x[0..cnt) (rows of V are T apart, the 16
 * matrices S = C*T apart). */
static void input_fw(const wgeom *q, const float *x, int64_t cnt, float *V, int64_t T, float *P) {
    int64_t S = q->C * T, HW = q->H * q->W, PE = q->PE;
    float *E = P, *O = P + q->PH * PE;
    for (int64_t i = 0; i < cnt; i++)
        for (int64_t c = 0; c < q->C; c++) {
            split_plane(q, x + (i * q->C + c) * HW, E, O);
            for (int64_t ty = 0; ty < q->TH; ty++) {
                float *v = V + c * T + i * q->tpi + ty * q->TW;
                for (int64_t tx = 0; tx < q->TW; tx += 4) {
                    int64_t t0;
                    int n;
                    blk_at(tx, q->TW, &t0, &n);
                    blk o;
                    in_fw_blk(E + 2 * ty * PE + t0, O + 2 * ty * PE + t0, PE, o);
                    blk_store(o, v + t0, S, n);
                }
            }
        }
}

/* gx[0..cnt) += B dV B^T of every tile. A row of tiles is transformed into Wr first, then
 * added to the four plane rows under it in one pass per row: column 2j gets tile j's b = 0 and
 * tile j-1's b = 2 values, column 2j+1 tile j's b = 1 and tile j-1's b = 3 (tile j sits at
 * Wr index j + 1; index 0 and those past the row stay 0). One pass, instead of adding each
 * block into the plane, keeps the overlapping columns of neighbouring tiles out of
 * read-after-write stalls. */
static void input_bw(const wgeom *q, const float *dV, int64_t cnt, int64_t T, float *gx, float *P) {
    int64_t S = q->C * T, HW = q->H * q->W, PE = q->PE, TW = q->TW, WL = q->TWB + 2;
    float *E = P, *O = P + q->PH * PE, *Wr = O + q->PH * PE;
    for (int64_t k = 0; k < 16 * WL; k++) Wr[k] = 0;
    for (int64_t i = 0; i < cnt; i++)
        for (int64_t c = 0; c < q->C; c++) {
            for (int64_t k = 0; k < 2 * q->PH * PE; k++) P[k] = 0;
            for (int64_t ty = 0; ty < q->TH; ty++) {
                const float *v = dV + c * T + i * q->tpi + ty * TW;
                for (int64_t tx = 0; tx < TW; tx += 4) {
                    int64_t t0;
                    int n;
                    blk_at(tx, TW, &t0, &n);
                    blk in;
                    blk_load(in, v + t0, S, n);
                    in_bw_blk(in, Wr + 1 + t0, WL);
                }
                for (int a = 0; a < 4; a++) {
                    float *restrict e = E + (2 * ty + a) * PE, *restrict o = O + (2 * ty + a) * PE;
                    const float *w0 = Wr + 4 * a * WL, *w1 = w0 + WL, *w2 = w1 + WL, *w3 = w2 + WL;
                    for (int64_t j = 0; j <= TW; j++) {
                        e[j] += w0[j + 1] + w2[j];
                        o[j] += w1[j + 1] + w3[j];
                    }
                }
            }
            merge_plane(q, E, O, gx + (i * q->C + c) * HW);
        }
}

/* y[0..cnt) = A^T M A (+ bias) per tile, A^T = [1 1 1 0; 0 1 -1 -1]. Each pair of output rows
 * is built in two rows of 2*TWB floats (R) and copied out: a tile's second row or column past
 * an odd output edge is dropped. */
static void output_fw(const wgeom *q, const float *M, int64_t cnt, int64_t T, const float *bias, float *y, int32_t *pos,
                      float *R) {
    int64_t S = q->OC * T, OH = q->OH, OW = q->OW, RW = 2 * q->TWB;
    float *r0 = R, *r1 = R + RW;
    for (int64_t i = 0; i < cnt; i++)
        for (int64_t oc = 0; oc < q->OC; oc++) {
            float bv = bias ? bias[oc] : 0.0f;
            float *yp = y + (i * q->OC + oc) * OH * OW; /* without pool (yhw = OH * OW) */
            for (int64_t ty = 0; ty < q->TH; ty++) {
                const float *m = M + oc * T + i * q->tpi + ty * q->TW;
                for (int64_t tx = 0; tx < q->TW; tx += 4) {
                    int64_t t0;
                    int n;
                    blk_at(tx, q->TW, &t0, &n);
                    blk in;
                    blk_load(in, m + t0, S, n);
                    float z[2][4][4]; /* A^T M down the columns */
                    for (int b = 0; b < 4; b++)
                        for (int u = 0; u < 4; u++) {
                            z[0][b][u] = in[b][u] + in[4 + b][u] + in[8 + b][u];
                            z[1][b][u] = in[4 + b][u] - in[8 + b][u] - in[12 + b][u];
                        }
                    for (int a = 0; a < 2; a++) { /* then A along the rows, interleaved into R */
                        float *r = (a ? r1 : r0) + 2 * t0;
                        for (int u = 0; u < 4; u++) {
                            r[2 * u] = z[a][0][u] + z[a][1][u] + z[a][2][u] + bv;
                            r[2 * u + 1] = z[a][1][u] - z[a][2][u] - z[a][3][u] + bv;
                        }
                    }
                }
                if (q->pool) { /* rows 2ty, 2ty + 1 are pooled row ty (an odd last row is dropped) */
                    int64_t PW2 = OW / 2, k0 = (i * q->OC + oc) * q->yhw + ty * PW2;
                    if (ty >= OH / 2) continue;
                    if (q->relu)
                        for (int64_t j = 0; j < 2 * PW2; j++) {
                            r0[j] = r0[j] > 0 ? r0[j] : 0.0f;
                            r1[j] = r1[j] > 0 ? r1[j] : 0.0f;
                        }
                    lb_max2x2_row(r0, r1, y + k0, pos + k0, PW2, (int32_t)(2 * ty * OW), (int32_t)OW);
                    continue;
                }
                float *restrict y0 = yp + 2 * ty * OW, *restrict y1 = y0 + OW;
                int two = 2 * ty + 1 < OH;
                if (q->relu) {
                    for (int64_t j = 0; j < OW; j++) y0[j] = r0[j] > 0 ? r0[j] : 0.0f;
                    if (two)
                        for (int64_t j = 0; j < OW; j++) y1[j] = r1[j] > 0 ? r1[j] : 0.0f;
                } else {
                    for (int64_t j = 0; j < OW; j++) y0[j] = r0[j];
                    if (two)
                        for (int64_t j = 0; j < OW; j++) y1[j] = r1[j];
                }
            }
        }
}

/* dM = A dY A^T per tile (the transpose of output_fw); outputs past an odd edge count as 0.
 * The two rows of dY under a row of tiles are split into even and odd columns first (R). */
static void output_bw(const wgeom *q, const float *gy, const float *yv, const int32_t *pos, int64_t cnt, int64_t T,
                      float *dM, float *R) {
    int64_t S = q->OC * T, OH = q->OH, OW = q->OW, B4 = q->TWB + 4;
    for (int64_t i = 0; i < cnt; i++)
        for (int64_t oc = 0; oc < q->OC; oc++) {
            const float *gp = gy + (i * q->OC + oc) * OH * OW;
            for (int64_t ty = 0; ty < q->TH; ty++) {
                float *ge[2] = {R, R + 2 * B4}, *go[2] = {R + B4, R + 3 * B4};
                if (q->pool) { /* dY of rows 2ty, 2ty + 1 from the pooled gradient (lb_unpool2_plane) */
                    int64_t PW2 = OW / 2, k0 = (i * q->OC + oc) * q->yhw + ty * PW2, nj = ty < OH / 2 ? PW2 : 0;
                    const float *restrict gr = gy + k0, *restrict yr = yv + k0;
                    const int32_t *restrict pr = pos + k0;
                    float *restrict e0 = ge[0], *restrict o0 = go[0], *restrict e1 = ge[1], *restrict o1 = go[1];
                    int32_t base = (int32_t)(2 * ty * OW), W1 = (int32_t)OW;
                    float *restrict gm = o1 + q->TWB; /* R's spare row: the masked gradient */
                    for (int64_t j = 0; j < nj; j++) gm[j] = q->relu ? (yr[j] > 0 ? gr[j] : 0.0f) : gr[j];
                    for (int64_t j = 0; j < nj; j++) { /* branch-free, so that it vectorizes */
                        float gv = gm[j];
                        int32_t rel = pr[j] - base - 2 * (int32_t)j; /* 0, 1, OW or OW + 1 */
                        e0[j] = rel == 0 ? gv : 0.0f;
                        o0[j] = rel == 1 ? gv : 0.0f;
                        e1[j] = rel == W1 ? gv : 0.0f;
                        o1[j] = rel == W1 + 1 ? gv : 0.0f;
                    }
                    for (int a = 0; a < 2; a++)
                        for (int64_t j = nj; j < q->TWB; j++) ge[a][j] = go[a][j] = 0;
                } else
                for (int a = 0; a < 2; a++) {
                    float *restrict e = ge[a], *restrict o = go[a];
                    int64_t ne = 0, no = 0; /* even and odd columns present */
                    if (2 * ty + a < OH) {
                        const float *restrict g = gp + (2 * ty + a) * OW;
                        ne = (OW + 1) / 2;
                        no = OW / 2;
                        for (int64_t j = 0; j < no; j++) { e[j] = g[2 * j]; o[j] = g[2 * j + 1]; }
                        if (ne > no) e[no] = g[2 * no];
                    }
                    for (int64_t j = ne; j < q->TWB; j++) e[j] = 0;
                    for (int64_t j = no; j < q->TWB; j++) o[j] = 0;
                }
                float *m = dM + oc * T + i * q->tpi + ty * q->TW;
                for (int64_t tx = 0; tx < q->TW; tx += 4) {
                    int64_t t0;
                    int n;
                    blk_at(tx, q->TW, &t0, &n);
                    float z[2][4][4]; /* dZ = dY A^T: row a -> (e0, e0 + e1, e0 - e1, -e1) */
                    for (int a = 0; a < 2; a++)
                        for (int u = 0; u < 4; u++) {
                            float e0 = ge[a][t0 + u], e1 = go[a][t0 + u];
                            z[a][0][u] = e0;
                            z[a][1][u] = e0 + e1;
                            z[a][2][u] = e0 - e1;
                            z[a][3][u] = -e1;
                        }
                    blk o; /* then A dZ down the columns */
                    for (int b = 0; b < 4; b++)
                        for (int u = 0; u < 4; u++) {
                            o[b][u] = z[0][b][u];
                            o[4 + b][u] = z[0][b][u] + z[1][b][u];
                            o[8 + b][u] = z[0][b][u] - z[1][b][u];
                            o[12 + b][u] = -z[1][b][u];
                        }
                    blk_store(o, m + t0, S, n);
                }
            }
        }
}

/* The scratch P after the chunk buffers: the split plane (and input_bw's row of tiles), or the
 * rows of output_fw/_bw. */
static int64_t scratch_floats(const wgeom *q) {
    int64_t plane = 2 * q->PH * q->PE + 16 * (q->TWB + 2), rows = 5 * (q->TWB + 4);
    return plane > rows ? plane : rows;
}

/* One pass over the batch, split into parts by chunks of images (lb_parallel): part p takes
 * chunks [p * nch / np, (p + 1) * nch / np) and its own slice of the workspace; in the backward
 * pass also its own dU, summed in part order at the end (so results depend on the thread count,
 * never on timing). */
typedef struct {
    const wgeom *q;
    const float *x, *bias, *gy, *yv; /* yv: the output (backward) */
    float *y, *gx, *ws, *dU;
    int64_t part_floats; /* workspace floats per part */
    int need_w, need_x;
} wpass;

static void chunk_range(const wgeom *q, int part, int nparts, int64_t *c0, int64_t *c1) {
    int64_t nch = (q->N + q->nb - 1) / q->nb;
    *c0 = nch * part / nparts;
    *c1 = nch * (part + 1) / nparts;
}

static void fw_part(void *ctx, int part, int nparts) {
    const wpass *a = ctx;
    const wgeom *q = a->q;
    int64_t C = q->C, OC = q->OC, Tmax = q->nb * q->tpi, c0, c1;
    float *V = a->ws + part * a->part_floats, *M = V + 16 * C * Tmax, *P = M + 16 * OC * Tmax;
    chunk_range(q, part, nparts, &c0, &c1);
    for (int64_t ch = c0; ch < c1; ch++) {
        int64_t n0 = ch * q->nb, cnt = q->N - n0 < q->nb ? q->N - n0 : q->nb, T = cnt * q->tpi;
        input_fw(q, a->x + n0 * C * q->H * q->W, cnt, V, T, P);
        for (int k = 0; k < 16; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)OC, (int)T, (int)C, 1.0f, q->U + k * OC * C,
                        (int)C, V + k * C * T, (int)T, 0.0f, M + k * OC * T, (int)T);
        output_fw(q, M, cnt, T, a->bias, a->y + n0 * OC * q->yhw, q->pos ? q->pos + n0 * OC * q->yhw : NULL, P);
    }
}

static void bw_part(void *ctx, int part, int nparts) {
    const wpass *a = ctx;
    const wgeom *q = a->q;
    int64_t C = q->C, OC = q->OC, Tmax = q->nb * q->tpi, c0, c1;
    float *dU = a->dU + part * 16 * OC * C;
    float *V = a->ws + part * a->part_floats, *dM = V + 16 * C * Tmax, *P = dM + 16 * OC * Tmax;
    if (a->need_w) memset(dU, 0, (size_t)(16 * OC * C) * sizeof(float));
    chunk_range(q, part, nparts, &c0, &c1);
    for (int64_t ch = c0; ch < c1; ch++) {
        int64_t n0 = ch * q->nb, cnt = q->N - n0 < q->nb ? q->N - n0 : q->nb, T = cnt * q->tpi;
        output_bw(q, a->gy + n0 * OC * q->yhw, a->yv + n0 * OC * q->yhw, q->pos ? q->pos + n0 * OC * q->yhw : NULL, cnt,
                  T, dM, P);
        if (a->need_w) {
            input_fw(q, a->x + n0 * C * q->H * q->W, cnt, V, T, P);
            for (int k = 0; k < 16; k++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)OC, (int)C, (int)T, 1.0f, dM + k * OC * T,
                            (int)T, V + k * C * T, (int)T, 1.0f, dU + k * OC * C, (int)C);
        }
        if (a->need_x) { /* dV into V's space: V is no longer needed */
            for (int k = 0; k < 16; k++)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)C, (int)T, (int)OC, 1.0f, q->U + k * OC * C,
                            (int)C, dM + k * OC * T, (int)T, 0.0f, V + k * C * T, (int)T);
            input_bw(q, V, cnt, T, a->gx + n0 * C * q->H * q->W, P);
        }
    }
}

/* Parts for a batch of nch chunks: the thread count, at most one part per chunk. */
static int nparts_for(const wgeom *q) {
    int64_t nch = (q->N + q->nb - 1) / q->nb;
    int np = lb_parallel_parts();
    return np > nch ? (int)nch : np;
}

static void wino_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
    const wgeom *q = nd->aux;
    int64_t ohw = q->OH * q->OW, C = q->C, OC = q->OC;
    float *gb = NULL;
    if (b && b->requires_grad) {
        gb = lb_gradbuf(g, b);
        if (!gb) return;
    }
    if (!q->pool) {
        lb_conv_grad_prologue(y->grad, y->data, q->relu, gb, 0, q->N, OC, ohw);
    } else if (gb) { /* the bias gradient from the full-size gradient, summed as without pooling */
        float *d = lb_alloc(g, (size_t)(ohw + q->OW) * sizeof(float));
        if (!d) return;
        for (int64_t i = 0; i < q->N * OC; i++) {
            lb_unpool2_plane(y->grad + i * q->yhw, y->data + i * q->yhw, q->pos + i * q->yhw, q->relu, q->OH, q->OW, d,
                             d + ohw);
            gb[i % OC] += lb_sum8(d, ohw);
        }
    }
    int need_w = w->requires_grad, need_x = x->requires_grad;
    if (!need_w && !need_x) return;
    float *gw = need_w ? lb_gradbuf(g, w) : NULL;
    float *gx = need_x ? lb_gradbuf(g, x) : NULL;
    if ((need_w && !gw) || (need_x && !gx)) return;
    int np = nparts_for(q);
    int64_t Tmax = q->nb * q->tpi, part = 16 * (C + OC) * Tmax + scratch_floats(q);
    float *ws = lb_workspace(g, (size_t)(np * (part + 16 * OC * C)));
    if (!ws) return;
    wpass a = {q, x->data, NULL, y->grad, y->data, NULL, gx, ws, ws + np * part, part, need_w, need_x};
    lb_parallel(np, bw_part, &a);
    if (!need_w) return;
    for (int p = 1; p < np; p++) /* the parts' dU, summed in order */
        for (int64_t i = 0; i < 16 * OC * C; i++) a.dU[i] += a.dU[p * 16 * OC * C + i];
    weights_bw(q, a.dU, gw);
}

/* x, w, b contiguous and checked by lb_conv2d; lb_winograd_applies() holds. */
lb_tensor *lb_conv2d_winograd(lb_graph *g, lb_tensor *x, lb_tensor *w, lb_tensor *b, int ph, int pw,
                              unsigned fuse) {
    wgeom *q = lb_alloc(g, sizeof *q);
    if (!q) return NULL;
    q->N = x->shape[0];
    q->C = x->shape[1];
    q->H = x->shape[2];
    q->W = x->shape[3];
    q->OC = w->shape[0];
    q->ph = ph;
    q->pw = pw;
    q->OH = q->H + 2 * ph - 2;
    q->OW = q->W + 2 * pw - 2;
    q->TH = (q->OH + 1) / 2;
    q->TW = (q->OW + 1) / 2;
    q->tpi = q->TH * q->TW;
    q->TWB = (q->TW + 3) / 4 * 4;
    q->PH = 2 * q->TH + 2;
    q->PE = q->TWB + 1;
    q->nb = LB_WINO_TILES / q->tpi;
    if (q->nb < 1) q->nb = 1;
    if (q->nb > q->N) q->nb = q->N;
    int64_t C = q->C, OC = q->OC, Tmax = q->nb * q->tpi;
    q->relu = (fuse & LB_FUSE_RELU) != 0;
    q->pool = (fuse & LB_FUSE_MAXPOOL2) && q->OH >= 2 && q->OW >= 2;
    q->yhw = q->pool ? (q->OH / 2) * (q->OW / 2) : q->OH * q->OW;
    q->pos = q->pool ? lb_alloc(g, (size_t)(q->N * OC * q->yhw) * sizeof(int32_t)) : NULL;
    if (q->pool && !q->pos) return NULL;
    int64_t shp[4] = {q->N, OC, q->pool ? q->OH / 2 : q->OH, q->pool ? q->OW / 2 : q->OW};
    lb_tensor *y = lb_new(g, 4, shp);
    q->U = y ? lb_alloc(g, (size_t)(16 * OC * C) * sizeof(float)) : NULL;
    if (!q->U) return NULL;
    int np = nparts_for(q);
    int64_t part = 16 * (C + OC) * Tmax + scratch_floats(q);
    float *ws = lb_workspace(g, (size_t)(np * part));
    if (!ws) return NULL;
    weights_fw(q, w->data, q->U);
    wpass a = {q, x->data, b ? b->data : NULL, NULL, NULL, y->data, NULL, ws, NULL, part, 0, 0};
    lb_parallel(np, fw_part, &a);
    lb_node *n = lb_record(g, wino_bw, y, 3, x, w, b, NULL);
    if (n) n->aux = q;
    return y;
}
