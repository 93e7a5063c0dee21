// Tests for the sign-in dialog's login step against a fake token endpoint.
import { test } from "node:test";
import assert from "node:assert/strict";
import { signIn } from "./login.js";
import { LOGIN_MESSAGE } from "./taskpane.js";

function tokenEndpoint(status) {
  const seen = [];
  const fetch = async (url, init) => {
    seen.push({ url, body: JSON.parse(init.body) });
    if (status !== 200) {
      return Response.json({ type: "about:blank", title: "Unauthorized", status }, { status, headers: { "Content-Type": "application/problem+json" } });
    }
    return Response.json({ access_token: "acc", token_type: "Bearer", expires_in: 900, refresh_token: "ref" });
  };
  return { fetch, seen };
}

test("sign-in hands the token set to the task pane", async () => {
  const server = tokenEndpoint(200);
  const msg = JSON.parse(await signIn({ baseUrl: "https://veilig.example", fetch: server.fetch, username: "anna@gemeente.example", password: "geheim" }));
  assert.equal(msg.type, LOGIN_MESSAGE);
  assert.equal(msg.tokens.access, "acc");
  assert.equal(msg.tokens.refresh, "ref");
  assert.equal(server.seen[0].url, "https://veilig.example/api/v1/auth/token");
  assert.deepEqual(server.seen[0].body, { grant_type: "password", username: "anna@gemeente.example", password: "geheim" });
});

test("a refused sign-in is an error with status 401", async () => {
  const server = tokenEndpoint(401);
  await assert.rejects(
    signIn({ baseUrl: "https://veilig.example", fetch: server.fetch, username: "a@b.example", password: "x" }),
    (err) => err.status === 401,
  );
});
