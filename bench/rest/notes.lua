-- notes.lua - the wrk script of bench/rest.sh: one of three note operations
-- against a running vaultd, chosen by the first script argument.
--
--   wrk ... -s notes.lua URL -- MODE TOKEN VAULT IDS_FILE THREADS RUN
--
--   create  POST /api/v1/vaults/VAULT/notes, a unique path per request
--   get     GET /api/v1/notes/ID, round robin over the ids in IDS_FILE
--   update  PUT /api/v1/notes/ID with If-Match, round robin over the ids
--
-- Every thread works on its own share of the ids (index % THREADS == its
-- number), so with a few hundred notes no two connections edit one note at
-- the same time and If-Match is almost always the current version; a stale
-- one is still fine (the server merges and says "merged": true). The version
-- to send is taken from each answer's body ("id" and "version"). RUN makes
-- the paths of a create run unique across runs on one vault.
--
-- done() prints one line that bench/rest.sh parses:
--   rest-lua: ok=N bad=N merged=N first_bad=STATUS
-- where ok counts the answers with the expected status (201 for create, 200
-- otherwise) and bad all others.

local next_tid = 0
local threads = {}

function setup(thread)
    thread:set("tid", next_tid)
    next_tid = next_tid + 1
    table.insert(threads, thread)
end

-- ~1 KiB of Markdown, the body of every created note.
local filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod " ..
    "tempor incididunt ut labore et dolore magna aliqua. "

local function note_text(title, line)
    return "# " .. title .. "\n\n" .. string.rep(filler, 8) .. "\n\n" .. line .. "\n"
end

local function json_string(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
        if c == "\n" then return "\\n" end
        return string.format("\\u%04x", c:byte())
    end) .. '"'
end

function init(args)
    mode, token, vault, ids_file = args[1], args[2], args[3], args[4]
    nthreads = tonumber(args[5]) or 1
    run = args[6] or "0"
    wrk.headers["Authorization"] = "Bearer " .. token
    wrk.headers["Content-Type"] = "application/json"
    ok, bad, merged, first_bad = 0, 0, 0, ""
    counter = 0
    expect = mode == "create" and 201 or 200
    ids, versions = {}, {}
    if mode ~= "create" then
        local i = 0
        for line in io.lines(ids_file) do
            local id, version = line:match("^(%x+)%s+(%d+)")
            if id ~= nil then
                if i % nthreads == tid then
                    table.insert(ids, id)
                    versions[id] = tonumber(version)
                end
                i = i + 1
            end
        end
        if #ids == 0 then
            io.stderr:write("notes.lua: no note ids for thread " .. tid .. " in " .. ids_file .. "\n")
            os.exit(2)
        end
    end
end

function request()
    counter = counter + 1
    if mode == "create" then
        local path = string.format("/bench/r%s/t%d/n%d.md", run, tid, counter)
        local body = '{"path":' .. json_string(path) .. ',"content":' ..
            json_string(note_text("Note " .. counter, "created by wrk")) .. "}"
        return wrk.format("POST", "/api/v1/vaults/" .. vault .. "/notes", nil, body)
    end
    local id = ids[(counter - 1) % #ids + 1]
    if mode == "get" then
        return wrk.format("GET", "/api/v1/notes/" .. id)
    end
    -- Every update changes the last line, so every PUT is a real, durable edit.
    local body = '{"content":' ..
        json_string(note_text("Note " .. id, string.format("edit %d.%d", tid, counter))) .. "}"
    -- wrk.format takes the headers given instead of wrk.headers: copy them.
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["If-Match"] = string.format('"v%d"', versions[id])
    return wrk.format("PUT", "/api/v1/notes/" .. id, headers, body)
end

function response(status, headers, body)
    if status ~= expect then
        bad = bad + 1
        if first_bad == "" then first_bad = tostring(status) end
        return
    end
    ok = ok + 1
    if mode == "update" then
        local id = body:match('"id":"(%x+)"')
        local version = tonumber(body:match('"version":(%d+)'))
        if id ~= nil and version ~= nil and (versions[id] or 0) < version then
            versions[id] = version
        end
        if body:find('"merged":true', 1, true) then merged = merged + 1 end
    end
end

function done(summary, latency, requests)
    local t_ok, t_bad, t_merged, t_first = 0, 0, 0, ""
    for _, thread in ipairs(threads) do
        t_ok = t_ok + (thread:get("ok") or 0)
        t_bad = t_bad + (thread:get("bad") or 0)
        t_merged = t_merged + (thread:get("merged") or 0)
        local f = thread:get("first_bad") or ""
        if t_first == "" then t_first = f end
    end
    io.write(string.format("rest-lua: ok=%d bad=%d merged=%d first_bad=%s\n", t_ok, t_bad,
        t_merged, t_first == "" and "-" or t_first))
end
