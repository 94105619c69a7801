-- Argo CD health of an LLMService, read from the status the operator writes.
--
-- Argo CD runs this with the live object as the global `obj` and shows the returned
-- status and message (deploy/argocd/README.md says how to install it). The verdicts
-- follow the README's table "What the status means":
--   Progressing  no status yet, or a status of an older generation than the spec (the
--                operator has not seen the latest change), or Progressing/Reconciling True;
--   Degraded     Stalled True (nothing serves, or the spec cannot be acted on) or Degraded
--                True (something is wrong, even while the floor of pods still serves);
--   Healthy      Ready True with nothing of the above.
-- Only plain Lua 5.1 is used, the language Argo CD embeds.

local hs = {}

local function find(conditions, wanted)
  if type(conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(conditions) do
    if type(c) == "table" and c.type == wanted then
      return c
    end
  end
  return nil
end

local function holds(c)
  return c ~= nil and c.status == "True"
end

-- "Reason: message", the way `kubectl describe` users read a condition.
local function explain(c, otherwise)
  if c == nil then
    return otherwise
  end
  local reason = c.reason or ""
  local message = c.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if message ~= "" then
    return message
  end
  if reason ~= "" then
    return reason
  end
  return otherwise
end

local metadata = obj.metadata or {}
local status = obj.status
local generation = tonumber(metadata.generation)

if type(status) ~= "table" or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report a status"
  return hs
end

local observed = tonumber(status.observedGeneration)
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = string.format(
    "waiting for the operator to observe generation %d (status is of generation %d)",
    generation,
    observed
  )
  return hs
end

local conditions = status.conditions
local ready = find(conditions, "Ready")
local progressing = find(conditions, "Progressing")
local degraded = find(conditions, "Degraded")
local reconciling = find(conditions, "Reconciling")
local stalled = find(conditions, "Stalled")

-- A condition written for an older generation says nothing about the current spec.
for _, c in ipairs(type(conditions) == "table" and conditions or {}) do
  local seen = type(c) == "table" and tonumber(c.observedGeneration) or nil
  if generation ~= nil and seen ~= nil and seen < generation then
    hs.status = "Progressing"
    hs.message = string.format(
      "waiting for the operator to observe generation %d (%s is of generation %d)",
      generation,
      tostring(c.type),
      seen
    )
    return hs
  end
end

if holds(stalled) then
  hs.status = "Degraded"
  hs.message = explain(stalled, "stalled")
  return hs
end

if holds(degraded) then
  hs.status = "Degraded"
  hs.message = explain(degraded, "degraded")
  return hs
end

if holds(progressing) or holds(reconciling) then
  hs.status = "Progressing"
  hs.message = explain(progressing, explain(reconciling, "progressing"))
  return hs
end

if holds(ready) then
  hs.status = "Healthy"
  hs.message = explain(ready, "ready")
  return hs
end

hs.status = "Progressing"
hs.message = explain(ready, "waiting for the Ready condition")
return hs
