/*
 * vaults.h - the vault routes: create, list, get (with the file tree), and
 * members with roles (owner, editor, viewer).
 */
#ifndef VN_VAULTS_H
#define VN_VAULTS_H

#include "server/http.h"

void vaults_route_list(vctx *ctx);
void vaults_route_create(vctx *ctx);
void vaults_route_get(vctx *ctx);
void vaults_route_members(vctx *ctx);
void vaults_route_member_add(vctx *ctx);
void vaults_route_member_remove(vctx *ctx);

/* "owner", "editor", "viewer" or "none". */
const char *vaults_role_name(store_role r);

/* Fills out (33 bytes) with 128 random bits as lowercase hex. */
void vaults_new_id(char out[33]);

#endif /* VN_VAULTS_H */
