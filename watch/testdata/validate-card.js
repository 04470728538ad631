// Validates Adaptive Cards with Microsoft's own Adaptive Cards SDK (npm "adaptivecards"): each
// card is parsed for the version it declares, as a Teams client parses it, and its properties
// validated. Prints one JSON line per card: {"version": "…", "events": [{"event", "message"}]};
// no events means the SDK found nothing wrong.
//
// node validate-card.js SDK.js CARD.json…
"use strict";
const fs = require("fs");
const AC = require(process.argv[2]);

for (const file of process.argv.slice(3)) {
  const json = JSON.parse(fs.readFileSync(file, "utf8"));
  const declared = AC.Version.parse(json.version, new AC.SerializationContext());
  const context = new AC.SerializationContext(declared);
  const card = new AC.AdaptiveCard();
  card.parse(json, context);
  const events = [];
  for (let i = 0; i < context.eventCount; i++) {
    const e = context.getEventAt(i);
    events.push({ event: AC.ValidationEvent[e.event], message: e.message });
  }
  for (const e of card.validateProperties().validationEvents) {
    events.push({ event: AC.ValidationEvent[e.event], message: e.message });
  }
  console.log(JSON.stringify({ version: declared ? declared.toString() : "", events }));
}
