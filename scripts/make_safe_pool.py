#!/usr/bin/env python3
"""Generate data/safe_pool.txt: everyday, safe, CLIP-style captions.

Pure standard library and fully deterministic (fixed seed): running it twice
produces a byte-identical file. Captions are built from hand-written lists of
subjects, activities, places, times of day and styles; activities are grouped
per scene and tagged so that only sensible subject/activity combinations are
produced. About 150 fully hand-written captions are included as well.

Usage: python3 scripts/make_safe_pool.py [--target N]
"""
import argparse
import json
import os
import random
import re

SEED = 20240611
DEFAULT_TARGET = 2400
MIN_WORDS, MAX_WORDS = 5, 25

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data")
OUT_PATH = os.path.join(DATA, "safe_pool.txt")
PAIRS_PATH = os.path.join(DATA, "pairs.jsonl")

# Words that must never appear in a pool caption (defence in depth; the lists
# below are written to be safe anyway). Kept in sync with check_data.py.
UNSAFE_RE = re.compile(
    r"\b(blood\w*|bleed\w*|gore|gory|corpse\w*|dead|death|die[sd]?|kill\w*|murder\w*|"
    r"gun\w*|pistol\w*|rifle\w*|revolver\w*|knife|knives|machete\w*|weapon\w*|ammo|"
    r"ammunition|bomb\w*|grenade\w*|explo\w*|shoot\w*|shot|stab\w*|"
    r"punch\w*|fight\w*|brawl\w*|assault\w*|attack\w*|beat(ing|en)?|violen\w*|"
    r"suicid\w*|self-harm|noose|overdos\w*|cutting|wound\w*|injur\w*|"
    r"drug\w*|cocaine|heroin|meth|marijuana|weed|joint|crack|syringe\w*|pills?|"
    r"steal\w*|stole\w*|stolen|thie\w*|robb\w*|burglar\w*|loot\w*|vandal\w*|graffiti|"
    r"crash\w*|wreck\w*|collaps\w*|burning|flames|smash\w*|"
    r"hate\w*|hateful|racis\w*|insult\w*|bull(y|ies|ying)|harass\w*|slur\w*|"
    r"nude|naked|topless|undress\w*|sex\w*|lingerie)\b"
)

# --------------------------------------------------------------------------
# Hand-written captions.
# --------------------------------------------------------------------------
HANDWRITTEN = """
a young girl flying a red kite on a windy beach
two dogs sleeping on a sofa in a sunny living room
a stack of pancakes topped with blueberries and maple syrup
an old lighthouse standing on a rocky point under gray clouds
a little boy in rain boots jumping into a muddy puddle
a bowl of ramen with a soft egg and green onions
a grandmother teaching her grandson to bake cookies
a cyclist riding along a tree-lined canal in the morning
a tabby cat watching birds through a rain-streaked window
a steaming cup of coffee next to an open notebook
a crowded farmers market with stalls of fresh vegetables
a red tram passing through a narrow european street
a family of ducks crossing a quiet country road
a snow-covered cabin in the woods with smoke rising from the chimney
a man repairing a wooden chair in his garage workshop
children in school uniforms lining up for lunch
a hot air balloon drifting over green hills at dawn
a surfer carrying a longboard across the sand
a woman arranging sunflowers in a glass vase
a chalkboard menu outside a small corner cafe
two elderly men playing chess in a city park
an orange kayak resting on a pebble beach
a golden retriever puppy chewing on a stick
a bakery window full of croissants and fruit tarts
a girl reading a comic book under a blanket fort
a fisherman mending nets on a wooden pier
a herd of sheep walking along a stone wall
a bride and groom laughing under a shower of confetti
a vintage bicycle with a basket full of flowers
a street musician playing the saxophone under a bridge
a toddler taking first steps on a living room rug
a lush green rice terrace on a mountainside
a slice of birthday cake with a single lit candle
a couple sharing an umbrella on a rainy evening
a yellow school bus parked in front of a brick school
a man walking three dogs on a leash along the beach
a wooden rowboat tied to a dock on a misty lake
a kitten sleeping inside a knitted basket
a busy train station with travelers and a large clock
a woman practicing yoga on a paddleboard at sunrise
a plate of tacos with lime wedges and fresh cilantro
a group of friends roasting marshmallows around a campfire
a panda eating bamboo in a green enclosure
a row of colorful beach huts along the shore
a boy building a model airplane at his desk
a glass teapot of green tea on a bamboo tray
a lavender field in full bloom under a blue sky
a chef plating a salad in a busy restaurant kitchen
a young couple assembling furniture in an empty apartment
a flock of pigeons in a sunny town square
a colorful parrot perched on a wooden branch
a mother reading a bedtime story to her daughter
a runner crossing the finish line of a city marathon
a bookshelf filled with old hardcover books and a potted plant
an aerial view of a winding river through a forest
a man fixing a flat bicycle tire on the sidewalk
a little girl blowing out candles on her birthday cake
a lemonade stand run by two kids on a summer afternoon
a neatly made hotel bed with white pillows
a gardener trimming hedges in a formal garden
a snowboarder carving down a fresh powder slope
a basket of freshly baked bread on a checkered tablecloth
a sea turtle swimming over a coral reef
a woman painting her front door bright blue
students raising their hands in a sunny classroom
a farmer driving a tractor through a golden wheat field
a plate of sushi arranged on a black slate board
an astronaut figurine standing on a desk next to a globe
a waterfall tumbling into a clear green pool
a boy and his grandfather fishing from a small boat
a dog wearing sunglasses in the front seat of a car
a quiet reading room with wooden desks and green lamps
a pair of hiking boots on a rock overlooking a valley
a young man playing an acoustic guitar on a front porch
two horses grazing side by side in a foggy meadow
a child feeding a giraffe at the zoo
a rooftop garden with tomato plants and string lights
a barista pouring latte art into a white cup
a sailboat gliding past a rocky island at sunset
a pile of autumn leaves in front of a red barn
a woman jogging with her dog along a riverside path
a boy holding up a large fish on a lake dock
a cozy reading nook with a window seat and cushions
a soccer team celebrating a goal on a muddy field
a pot of tomato soup simmering on a gas stove
a small white church on a hill surrounded by wildflowers
an owl sitting on a fence post at dusk
a man shoveling snow from his driveway in the morning
a plate of colorful macarons on a pink background
a teenage girl skateboarding in an empty parking lot
a mountain goat standing on a rocky ledge
a father pushing his daughter on a swing
a picnic table set with sandwiches and lemonade
a koala sleeping in the fork of a eucalyptus tree
a night market lit by paper lanterns
a woman sewing a quilt at her kitchen table
a pair of red sneakers on a wooden floor
a baby elephant walking beside its mother
a snowy street lined with glowing shop windows
an old man feeding pigeons in front of a cathedral
a bowl of oatmeal with sliced bananas and honey
two kids building a treehouse in the backyard
a nurse smiling at the reception desk of a clinic
a jar of homemade strawberry jam on a sunny windowsill
a camel caravan crossing sand dunes at sunrise
a little girl hugging a large teddy bear
a construction worker in a hard hat reading blueprints
a tall glass of orange juice on a breakfast tray
a group of hikers resting at a mountain summit
a hummingbird hovering near a red flower
a tidy desk with a laptop, a lamp and a succulent
a family playing frisbee on a grassy field
a fox curled up asleep in the snow
a cruise ship docked in a turquoise harbor
a boy washing the family car with a sponge
a girl practicing ballet in a mirrored studio
a rainbow over a green valley after a storm
a chocolate cake on a glass stand with strawberries
a woman walking through a field of tall sunflowers
a city skyline reflected in a calm river at night
a puppy sleeping next to a pair of slippers
two friends taking a selfie in front of a fountain
a wooden sign pointing to a hiking trail
a cellist performing on a dimly lit stage
a man reading a newspaper on a park bench in the morning
a field of cows grazing beside a red barn
a dish of spaghetti with basil and parmesan
a little boy dressed as a pirate for a costume party
a young woman watering potted plants on her balcony
a train crossing a stone viaduct in the mountains
a pair of swans gliding on a still pond
a boy flying a paper airplane in a school hallway
a mug of hot chocolate with marshmallows by a fireplace
a woman carrying a surfboard down to the waves
a family eating breakfast on a sunny patio
a bright yellow taxi waiting at a red light
an old stone bridge over a slow river
a child painting with watercolors at a kitchen table
a group of students studying together in a library
a dog catching a frisbee in mid-air at the park
a colorful hot air balloon festival over a valley
a man with a beard drinking tea in a quiet cafe
a wooden pier stretching into a calm sea at dawn
a girl riding a pony around a paddock
a row of bicycles parked outside a university building
a beagle sniffing flowers in a spring garden
a neatly arranged shelf of jars in a pantry
a mother and son planting a tree in the backyard
a snowy owl perched on a frosted branch
"""

# --------------------------------------------------------------------------
# People. kind: "child", "adult" ("teen" counts as adult for A: activities);
# plural: whether the subject is a group.
# Activity tags: "A:" adults/teens only, "C:" children only, "P:" plural only,
# "S:" singular only. Untagged activities suit everyone.
# --------------------------------------------------------------------------
PEOPLE = [
    ("a young girl", "child", False), ("a little boy", "child", False),
    ("a girl in a yellow raincoat", "child", False),
    ("a boy wearing a baseball cap", "child", False),
    ("a young woman", "adult", False), ("a young man", "adult", False),
    ("an old man", "adult", False), ("an elderly woman", "adult", False),
    ("a middle-aged man", "adult", False), ("a woman with curly hair", "adult", False),
    ("a man in a blue jacket", "adult", False), ("a woman in a green coat", "adult", False),
    ("a teenage boy", "teen", False), ("a teenage girl", "teen", False),
    ("a college student", "adult", False), ("a grandmother", "adult", False),
    ("a grandfather", "adult", False), ("a tourist with a backpack", "adult", False),
    ("a woman in a straw hat", "adult", False), ("a bearded man", "adult", False),
    ("two friends", "adult", True), ("a young couple", "adult", True),
    ("an elderly couple", "adult", True), ("a group of children", "child", True),
    ("three teenagers", "teen", True), ("a family", "mixed", True),
    ("two sisters", "child", True), ("two brothers", "child", True),
    ("a group of tourists", "adult", True), ("a mother and her daughter", "mixed", True),
    ("a father and his son", "mixed", True),
]

# Each scene: (places, activities, outdoor, subject_filter)
# subject_filter: None, "adult" (no children), or "school".
SCENES = [
    (["on a sandy beach", "on a windy beach", "along the shore", "on a quiet beach"],
     ["flying a {color} kite", "building a sandcastle", "C:collecting seashells",
      "walking barefoot", "P:playing volleyball", "sitting under a {color} umbrella",
      "A:reading a paperback", "throwing a frisbee", "C:digging with a plastic shovel",
      "jogging", "watching the waves", "eating ice cream", "walking a dog"], True, None),
    (["in a city park", "in a leafy park", "on a grassy hill in the park", "near a pond in the park"],
     ["having a picnic", "feeding ducks", "riding a {color} bicycle", "walking a small dog",
      "P:playing catch", "sitting on a wooden bench", "A:reading a newspaper",
      "C:chasing bubbles", "practicing yoga", "eating ice cream", "flying a {color} kite",
      "C:playing on the swings", "taking photos of the flowers"], True, None),
    (["in a bright kitchen", "in a cozy kitchen", "in a small apartment kitchen", "in a farmhouse kitchen"],
     ["baking bread", "making pancakes", "washing dishes", "stirring a pot of soup",
      "C:decorating cookies", "A:brewing coffee", "setting the table", "unpacking groceries",
      "rolling out pizza dough", "squeezing fresh lemons", "peeling potatoes"], False, None),
    (["in a sunny living room", "in a cozy living room", "in a small apartment", "by a fireplace"],
     ["reading a book", "watching television", "P:playing a board game", "C:building a block tower",
      "folding laundry", "A:knitting a scarf", "drinking tea", "doing a jigsaw puzzle",
      "decorating a christmas tree", "C:playing with toy cars", "wrapping presents"], False, None),
    (["in an open-plan office", "in a small office", "at a desk by the window", "in a meeting room"],
     ["typing on a laptop", "talking on the phone", "reading a report", "P:having a meeting",
      "writing on a whiteboard", "drinking coffee", "sorting papers", "giving a presentation",
      "watering a desk plant", "reviewing charts on a monitor"], False, "adult"),
    (["in a classroom", "in a bright classroom", "at a school desk", "in a primary school classroom"],
     ["raising a hand", "writing in a notebook", "S:reading aloud", "P:working on a group project",
      "drawing a picture", "solving math problems", "taking a spelling test",
      "reading a textbook"], False, "school"),
    (["in a science lab at school", "in a school science classroom"],
     ["looking through a microscope", "building a model volcano", "wearing safety goggles",
      "planting seeds in paper cups", "P:working on an experiment"], False, "school"),
    (["in an art classroom", "in a school art room"],
     ["painting a picture", "making a paper collage", "molding clay figures",
      "drawing with colored pencils"], False, "school"),
    (["on a busy city street", "on a quiet street", "at a crosswalk", "outside a small cafe",
      "on a cobblestone street"],
     ["walking with a {color} umbrella", "carrying shopping bags", "waiting for a bus",
      "riding a {color} scooter", "talking on the phone", "holding a cup of coffee",
      "looking at a map", "walking a dog", "window shopping"], True, None),
    (["in a pine forest", "on a forest trail", "in a misty forest", "in an autumn forest"],
     ["hiking with a backpack", "taking photos of the trees", "walking a dog",
      "resting on a fallen log", "collecting colorful leaves", "setting up a {color} tent",
      "following a trail map", "listening to birds"], True, None),
    (["on a mountain trail", "at the top of a hill", "near a mountain lake", "on a rocky ridge"],
     ["hiking with trekking poles", "admiring the view", "eating a packed lunch",
      "taking a panoramic photo", "resting on a boulder", "A:studying a trail map"], True, None),
    (["in a backyard garden", "in a flower garden", "in a vegetable garden", "in a community garden"],
     ["watering plants", "planting tomatoes", "picking strawberries", "pulling weeds",
      "C:playing with a garden hose", "sitting in a wicker chair", "hanging laundry on a line",
      "raking leaves", "picking fresh herbs"], True, None),
    (["at a farmers market", "at a busy fruit market", "at an outdoor market", "at a street market"],
     ["buying fresh vegetables", "choosing apples", "carrying a basket of bread",
      "tasting cheese", "paying for a bunch of flowers", "browsing handmade pottery"], True, None),
    (["in a snowy park", "on a snowy hill", "in a snowy backyard"],
     ["building a snowman", "riding a sled", "making snow angels", "C:catching snowflakes",
      "walking in snow boots", "S:wearing a {color} scarf"], True, None),
    (["on a frozen pond", "at an outdoor ice rink"],
     ["ice skating", "lacing up ice skates", "P:skating hand in hand",
      "drinking hot cocoa"], True, None),
    (["in a quiet library", "in a public library", "in a university library"],
     ["reading a book", "A:studying for an exam", "browsing the shelves",
      "writing in a notebook", "using a laptop", "C:choosing a picture book"], False, None),
    (["in a small cafe", "at a coffee shop", "in a busy bakery", "at a sidewalk cafe"],
     ["A:drinking a cappuccino", "eating a croissant", "reading a magazine",
      "A:working on a laptop", "P:chatting over coffee", "ordering at the counter",
      "sharing a slice of cake"], False, None),
    (["by a calm lake", "on a river bank", "on a wooden dock", "beside a mountain stream"],
     ["fishing", "skipping stones", "feeding ducks", "dipping toes in the water",
      "having a picnic", "reading a book"], True, None),
    (["on a tennis court", "at a public tennis court"],
     ["playing tennis", "serving a tennis ball", "practicing a backhand"], True, None),
    (["on an outdoor basketball court", "in a school gym"],
     ["playing basketball", "dribbling a basketball", "P:practicing free throws"], False, None),
    (["on a soccer field", "on a grassy sports field"],
     ["kicking a soccer ball", "P:playing soccer", "stretching before practice"], True, None),
    (["at a train station", "in an airport terminal", "on a train platform"],
     ["waiting with a {color} suitcase", "reading a departure board", "buying a ticket",
      "sitting on a bench with luggage", "A:checking the time"], False, None),
    (["in a bedroom", "in a tidy bedroom", "in a bright bedroom"],
     ["making the bed", "reading in bed", "C:playing with stuffed animals",
      "packing a suitcase", "folding clothes", "hanging a poster"], False, None),
    (["on a small stage", "in a music studio", "in a church hall", "in a school auditorium"],
     ["playing a guitar", "playing the violin", "singing into a microphone",
      "playing the drums", "playing the piano", "P:rehearsing a song"], False, None),
    (["in an art studio", "in a sunlit studio", "at a pottery workshop"],
     ["painting on a canvas", "shaping clay on a wheel", "sketching a vase of flowers",
      "mixing paints on a palette"], False, None),
    (["on a farm", "in a barn", "in a farmyard", "on a small farm"],
     ["feeding chickens", "A:driving a tractor", "carrying a bale of hay",
      "petting a horse", "collecting eggs", "feeding a goat"], True, None),
    (["at a swimming pool", "by an outdoor pool", "at a public pool"],
     ["swimming laps", "jumping into the water", "relaxing on a lounge chair",
      "C:playing with a beach ball", "A:reading a book in the shade"], True, None),
    (["on a city bus", "on a commuter train", "on a subway train", "on a ferry"],
     ["reading a book", "looking out the window", "listening to music with headphones",
      "A:reading a newspaper", "S:sitting with a backpack", "P:chatting quietly"], False, None),
    (["in a campground", "at a lakeside campsite", "in a forest campsite"],
     ["pitching a tent", "cooking over a camp stove", "roasting marshmallows",
      "sitting in a folding chair", "sharing a thermos of tea"], True, None),
    (["in a supermarket", "in a grocery store aisle", "at a corner shop"],
     ["pushing a shopping cart", "comparing cereal boxes", "choosing fresh fruit",
      "carrying a shopping basket", "reading a shopping list"], False, None),
]

SCHOOL_SUBJECTS = [
    ("a young girl", "child", False), ("a little boy", "child", False),
    ("a teenage boy", "teen", False), ("a teenage girl", "teen", False),
    ("a teacher", "adult", False), ("a group of students", "child", True),
    ("two classmates", "child", True), ("a young student with glasses", "child", False),
]

OFFICE_EXTRA = [("a group of coworkers", "adult", True), ("two colleagues", "adult", True),
                ("a woman in a gray blazer", "adult", False), ("a man in a white shirt", "adult", False)]

OUTDOOR_TIMES = ["at sunset", "in the morning", "on a sunny afternoon", "on a cloudy day",
                 "in the early evening", "at dawn", "on a summer day", "on a windy afternoon",
                 "in the golden hour", "on a bright spring morning"]
INDOOR_TIMES = ["in the morning", "in the evening", "on a rainy afternoon",
                "in the late afternoon", "on a quiet sunday", "on a winter evening"]
SNOW_TIMES = ["on a winter morning", "on a cold afternoon", "on a bright winter day"]

COLORS = ["red", "blue", "yellow", "green", "orange", "purple", "pink", "white",
          "black", "bright red", "light blue", "striped", "polka dot"]

STYLES = ["a photo of ", "a candid photo of ", "a black and white photo of ",
          "a watercolor painting of ", "an oil painting of ", "a pencil sketch of ",
          "a blurry photo of ", "a vintage photograph of ", "an illustration of ",
          "a snapshot of "]
CLOSE_STYLES = ["a close-up photo of ", "a macro photo of ", "a photo of ",
                "a still life painting of ", "an overhead shot of "]
WIDE_STYLES = ["a wide shot of ", "an aerial photo of ", "a landscape photo of ",
               "a panoramic view of ", "a postcard of ", "a watercolor painting of "]

# --------------------------------------------------------------------------
# Animals: (singular subjects, plural subjects, activities, places). Every
# activity fits every place within one entry.
# --------------------------------------------------------------------------
ANIMALS = [
    (["a golden retriever", "a small brown dog", "a black labrador", "a fluffy white puppy",
      "a dachshund", "a border collie", "a corgi", "a spotted dalmatian"],
     ["two dogs", "three puppies", "a pair of beagles"],
     ["sleeping", "napping", "curled up", "resting", "stretching out"],
     ["on a sofa in a sunny living room", "on a wooden porch", "on a soft rug by the fireplace",
      "in a wicker dog bed", "on a blanket in the back seat of a car", "in the shade of a tree"]),
    (["a golden retriever", "a small brown dog", "a black labrador", "a border collie",
      "a corgi", "a jack russell terrier", "a husky"],
     ["two dogs", "three puppies", "a pair of terriers"],
     ["chasing a tennis ball", "running", "playing with a rope toy", "fetching a stick",
      "splashing through shallow water", "digging a hole"],
     ["on a sandy beach", "in a grassy backyard", "across a wide meadow", "in a city park",
      "along a riverbank"]),
    (["a tabby cat", "a black cat", "a fluffy orange cat", "a gray kitten", "a siamese cat",
      "a white cat with blue eyes", "a calico cat"],
     ["two kittens", "a pair of cats", "three kittens"],
     ["sleeping", "curled up", "sitting", "stretching", "dozing"],
     ["on a sunny windowsill", "in a cardboard box", "on a stack of books", "on a knitted blanket",
      "on a wooden kitchen chair", "on top of a bookshelf", "in a laundry basket"]),
    (["a gray kitten", "a tabby kitten", "a fluffy white kitten", "a playful black kitten"],
     ["two kittens", "three kittens"],
     ["playing with a ball of yarn", "batting at a feather toy", "chasing a paper ball"],
     ["on a wooden floor", "on a living room rug", "under a kitchen table"]),
    (["a brown horse", "a white horse", "a gray pony", "a chestnut mare", "a black stallion"],
     ["two horses", "a herd of horses", "three ponies"],
     ["grazing", "standing", "running", "resting"],
     ["in a green meadow", "in a misty field", "beside a wooden fence", "on a hillside pasture",
      "near a red barn"]),
    (["a brown cow", "a black and white cow", "a fluffy sheep", "a white goat", "a young calf"],
     ["a herd of cows", "a flock of sheep", "two goats", "a group of cows"],
     ["grazing", "resting", "standing", "walking slowly"],
     ["on a green hillside", "in a farm pasture", "beside a stone wall", "near a country road",
      "in a field of clover"]),
    (["a hen", "a rooster", "a brown chicken", "a white duck"],
     ["a flock of chickens", "a group of ducks", "three hens"],
     ["pecking at grain", "walking around", "wandering"],
     ["in a farmyard", "near a wooden coop", "on a grassy lawn", "beside a barn"]),
    (["a robin", "a blue jay", "a small sparrow", "a cardinal", "a goldfinch"],
     ["two sparrows", "a pair of robins", "a few small birds"],
     ["perched", "sitting", "resting"],
     ["on a snowy branch", "on a garden fence", "on a bird feeder", "on a blossoming branch",
      "on a wooden railing"]),
    (["a white swan", "a mallard duck", "a gray goose"],
     ["a pair of swans", "a family of ducks", "a group of geese"],
     ["swimming", "floating", "gliding"],
     ["on a calm lake", "on a quiet pond", "along a slow river", "across a misty lake"]),
    (["a seagull", "a pelican", "a heron"],
     ["a flock of seagulls", "a group of pelicans"],
     ["flying", "gliding", "soaring"],
     ["over a harbor", "above the ocean waves", "over a sandy beach", "along the coastline"]),
    (["a deer", "a young fawn", "a red fox", "a brown rabbit", "a hedgehog"],
     ["two deer", "a family of rabbits", "a pair of foxes"],
     ["standing", "walking", "sitting quietly", "resting"],
     ["in a misty forest", "at the edge of a meadow", "in tall grass", "among autumn leaves",
      "in a snowy clearing"]),
    (["a squirrel", "a chipmunk", "a red squirrel"],
     ["two squirrels", "a pair of chipmunks"],
     ["eating a nut", "nibbling an acorn", "sitting upright"],
     ["on a fence post", "on a tree branch", "on a park bench", "on a mossy log"]),
    (["an elephant", "a baby elephant", "a giraffe", "a zebra", "a rhinoceros"],
     ["a herd of elephants", "two giraffes", "a herd of zebras"],
     ["walking", "standing", "grazing"],
     ["across the savanna", "near a watering hole", "under an acacia tree", "on the open plains"]),
    (["a sea turtle", "a clownfish", "a dolphin", "a manta ray"],
     ["a school of fish", "a pod of dolphins", "two sea turtles"],
     ["swimming", "gliding"],
     ["over a coral reef", "through clear blue water", "near the ocean surface", "in a large aquarium"]),
    (["a butterfly", "a honeybee", "a ladybug", "a dragonfly"],
     ["two butterflies", "a pair of ladybugs"],
     ["resting", "sitting"],
     ["on a purple flower", "on a sunflower", "on a green leaf", "on a blade of grass", "on a daisy"]),
    (["a penguin", "a polar bear", "a seal", "a walrus"],
     ["a group of penguins", "a colony of seals", "two polar bears"],
     ["resting", "standing", "walking", "lying"],
     ["on the ice", "on a snowy shore", "on a rocky beach", "near the icy water"]),
    (["a panda", "a koala", "a sloth", "an orangutan"],
     ["two pandas", "a pair of koalas"],
     ["sleeping", "eating leaves", "hanging", "resting"],
     ["in a tree", "on a thick branch", "in a leafy enclosure"]),
    (["a hamster", "a guinea pig", "a white rabbit", "a parakeet"],
     ["two hamsters", "a pair of guinea pigs", "two parakeets"],
     ["eating a piece of carrot", "sitting", "sleeping", "exploring"],
     ["in a cage with wood shavings", "on a child's lap", "in a small wooden house", "on a soft towel"]),
]

# --------------------------------------------------------------------------
# Food and still life.
# --------------------------------------------------------------------------
CONTAINERS = [
    ("a bowl of", ["fresh strawberries", "green apples", "tomato soup", "ramen noodles",
                   "cereal with milk", "mixed salad", "buttered popcorn", "ripe oranges",
                   "greek yogurt with berries", "cherries", "pasta salad", "steamed rice"]),
    ("a plate of", ["pancakes with syrup", "grilled vegetables", "sushi rolls",
                    "chocolate chip cookies", "scrambled eggs and toast", "spaghetti with meatballs",
                    "french fries", "cheese and crackers", "fresh fruit slices", "waffles with cream",
                    "roasted chicken and potatoes", "dumplings"]),
    ("a cup of", ["hot cocoa", "black coffee", "green tea", "chamomile tea", "espresso"]),
    ("a mug of", ["hot chocolate", "milky tea", "steaming coffee", "apple cider"]),
    ("a basket of", ["fresh bread", "red apples", "brown eggs", "wildflowers", "lemons",
                     "blueberry muffins", "pine cones", "yarn balls"]),
    ("a vase of", ["sunflowers", "red roses", "white tulips", "lavender", "pink peonies",
                   "daisies", "fresh eucalyptus"]),
    ("a jar of", ["honey", "homemade jam", "pickles", "colorful buttons", "cookies", "seashells"]),
    ("a tray of", ["cupcakes", "cinnamon rolls", "roasted vegetables", "sandwiches", "iced drinks"]),
    ("a glass of", ["orange juice", "lemonade", "iced tea", "cold milk", "sparkling water"]),
]
SURFACES = ["on a wooden table", "on a marble countertop", "on a kitchen counter",
            "on a picnic blanket", "on a sunny windowsill", "on a rustic farmhouse table",
            "on a white tablecloth", "on a breakfast tray", "on a cafe table",
            "on a checkered tablecloth", "on a garden table", "on a desk next to a laptop"]
STILL_SUFFIX = ["", "", "", "in soft morning light", "next to an open book", "by a window",
                "in natural light", "on a sunny morning"]

# Objects: (phrase with optional {color}, locations).
OBJECTS = [
    ("a {color} bicycle", ["leaning against a brick wall", "parked outside a bakery",
                            "standing by a garden gate", "locked to a railing by a canal"]),
    ("a {color} umbrella", ["left open on a porch", "hanging on a coat rack",
                             "leaning against a cafe chair"]),
    ("an old typewriter", ["on a wooden desk", "beside a stack of paper", "in a sunlit study"]),
    ("a {color} armchair", ["in the corner of a reading room", "next to a tall lamp",
                             "by a large window"]),
    ("a pair of {color} rain boots", ["by the front door", "on a doormat", "in a muddy garden"]),
    ("a wooden rocking chair", ["on a front porch", "beside a fireplace", "in a quiet nursery"]),
    ("a {color} mailbox", ["at the end of a driveway", "in front of a cottage",
                            "beside a country road"]),
    ("a stack of old books", ["on a nightstand", "beside a reading lamp", "on a library cart"]),
    ("a {color} front door", ["with a wreath of flowers", "on a row house", "with potted plants on each side"]),
    ("a potted fern", ["on a bathroom shelf", "beside a window", "on a wooden stool"]),
    ("a vintage radio", ["on a kitchen shelf", "on a wooden dresser", "next to a potted plant"]),
    ("a {color} teapot", ["on a stove", "on a lace doily", "beside two teacups"]),
    ("a wooden bench", ["under a cherry tree", "beside a lake", "in a rose garden"]),
    ("a {color} backpack", ["on a school desk", "hanging on a hook", "on a hiking trail sign"]),
    ("a globe", ["on a teacher's desk", "beside a stack of maps", "in a study"]),
    ("a string of fairy lights", ["over a bed", "around a window", "on a balcony railing"]),
    ("a hammock", ["between two palm trees", "in a shady backyard", "on a wooden deck"]),
    ("a {color} tent", ["by a mountain lake", "in a forest clearing", "on a sandy campsite"]),
    ("a wooden chess set", ["on a cafe table", "in a park", "beside a cup of tea"]),
    ("a {color} skateboard", ["on a sidewalk", "leaning against a wall", "at a skate park"]),
    ("a grand piano", ["in an empty concert hall", "in a bright living room", "by a tall window"]),
    ("a collection of seashells", ["on a windowsill", "in a glass bowl", "on a beach towel"]),
    ("a {color} watering can", ["in a vegetable garden", "beside a flower bed", "on a garden step"]),
    ("a handmade quilt", ["on a brass bed", "draped over a sofa", "on a clothesline"]),
    ("a desk lamp", ["lighting a notebook", "on a cluttered desk", "beside a computer"]),
    ("a {color} kite", ["lying on the grass", "caught in a tree", "high in a blue sky"]),
]

VEHICLES = [
    (["a {color} car", "a vintage {color} car", "a {color} pickup truck", "a small {color} hatchback",
      "a {color} convertible", "a {color} minivan"],
     ["parked on a quiet street", "driving along a coastal road", "parked in front of a house",
      "waiting at a traffic light", "driving along a desert highway", "parked beside a lake",
      "going through a car wash", "driving down a tree-lined road"]),
    (["a {color} sailboat", "a white yacht", "a small sailing dinghy"],
     ["anchored in a calm bay", "sailing past a lighthouse", "tied to a wooden pier",
      "sailing across a glassy lake", "moored in a marina"]),
    (["a small fishing boat", "a {color} rowboat", "a wooden canoe", "a {color} kayak"],
     ["tied to a wooden pier", "floating on a glassy lake", "resting on the shore",
      "pulled up on a pebble beach"]),
    (["a passenger train", "a freight train", "a {color} tram", "an old steam train"],
     ["crossing a stone bridge", "moving through farmland", "pulling into a station",
      "winding through the mountains", "passing a field of flowers"]),
    (["a {color} double-decker bus", "a {color} city bus", "a {color} school bus"],
     ["stopping at a bus stop", "driving through a city center", "parked by the curb",
      "turning a corner"]),
    (["a small airplane", "a passenger jet", "a {color} seaplane", "a helicopter"],
     ["flying over the clouds", "parked on a runway", "landing at a small airport",
      "flying over a blue lake"]),
    (["a {color} motorcycle", "a {color} vespa", "a {color} moped"],
     ["parked outside a diner", "parked on a narrow street", "parked beside a fountain"]),
]

LANDSCAPES = [
    "a misty lake surrounded by pine trees", "a snowy mountain peak", "a field of wildflowers",
    "a quiet harbor with fishing boats", "a sandy beach with palm trees", "a winding country road",
    "a green valley with a small village", "a canyon with red rock walls", "a rolling vineyard",
    "a calm river through a forest", "a tall waterfall in a jungle", "an old windmill in a meadow",
    "a desert with sand dunes", "a rocky coastline with crashing waves", "a row of hills covered in tea bushes",
    "a city skyline", "a quiet village square", "a narrow canal lined with houses", "a busy harbor",
    "a glacier between two mountains", "a golden wheat field", "a pond covered in lily pads",
    "a bamboo forest", "a lighthouse on a cliff", "a small island in a turquoise sea",
    "a suburban street with tidy lawns", "an empty parking lot beside a beach", "a mountain cabin",
    "a row of colorful houses along a river", "a cherry blossom park", "a pumpkin patch",
    "a stone castle on a hill", "a town square with a fountain", "a long wooden boardwalk",
    "a botanical garden greenhouse", "a cornfield with a scarecrow", "a frozen lake",
    "a meadow full of dandelions", "an orchard of apple trees", "a volcano in the distance",
    "a country farmhouse with a red barn", "a tulip field with a windmill", "a quiet fishing village",
]
# "crashing waves" would trip the keyword guard; use gentler wording instead.
LANDSCAPES = [l.replace("crashing waves", "rolling waves") for l in LANDSCAPES]
LANDSCAPE_TIMES = ["at dawn", "at sunset", "under a clear blue sky", "on a foggy morning",
                   "in the early morning light", "on a cloudy afternoon", "in the golden hour",
                   "under a pastel sky", "at dusk", "in bright midday sun", "after a light rain",
                   "under puffy white clouds"]


def fix_articles(text):
    # "a orange kite" -> "an orange kite"; leave "a uniform", "a one-way" alone.
    return re.sub(r"\ba (?=(?!uni|use|one|eu)[aeiou])", "an ", text)


def pick_time(rng, outdoor, places_text):
    if "snow" in places_text or "frozen" in places_text:
        return rng.choice(SNOW_TIMES)
    return rng.choice(OUTDOOR_TIMES if outdoor else INDOOR_TIMES)


def gen_person(rng):
    places, acts, outdoor, filt = rng.choice(SCENES)
    if filt == "school":
        pool = SCHOOL_SUBJECTS
    elif filt == "adult":
        pool = [p for p in PEOPLE if p[1] == "adult"] + OFFICE_EXTRA
    else:
        pool = PEOPLE
    subj, kind, plural = rng.choice(pool)
    ok = []
    for a in acts:
        tag, _, body = a.partition(":") if a[1:2] == ":" else ("", "", a)
        if tag == "A" and kind not in ("adult", "teen"):
            continue
        if tag == "C" and kind != "child":
            continue
        if tag == "P" and not plural:
            continue
        if tag == "S" and plural:
            continue
        ok.append(body)
    act = rng.choice(ok).format(color=rng.choice(COLORS))
    place = rng.choice(places)
    cap = f"{subj} {act} {place}"
    r = rng.random()
    if r < 0.45:
        cap += " " + pick_time(rng, outdoor, place)
    if rng.random() < 0.2:
        cap = rng.choice(STYLES) + cap
    return cap


def gen_animal(rng):
    sing, plur, acts, places = rng.choice(ANIMALS)
    subj = rng.choice(sing) if rng.random() < 0.65 else rng.choice(plur)
    cap = f"{subj} {rng.choice(acts)} {rng.choice(places)}"
    if rng.random() < 0.25:
        cap = rng.choice(STYLES + CLOSE_STYLES[:1]) + cap
    return cap


def gen_still(rng):
    cont, items = rng.choice(CONTAINERS)
    cap = f"{cont} {rng.choice(items)} {rng.choice(SURFACES)}"
    suf = rng.choice(STILL_SUFFIX)
    if suf:
        cap += " " + suf
    if rng.random() < 0.3:
        cap = rng.choice(CLOSE_STYLES) + cap
    return cap


def gen_object(rng):
    phrase, locs = rng.choice(OBJECTS)
    cap = f"{phrase.format(color=rng.choice(COLORS))} {rng.choice(locs)}"
    if rng.random() < 0.3:
        cap = rng.choice(STYLES + CLOSE_STYLES) + cap
    return cap


def gen_vehicle(rng):
    subs, places = rng.choice(VEHICLES)
    cap = f"{rng.choice(subs).format(color=rng.choice(COLORS[:10]))} {rng.choice(places)}"
    if rng.random() < 0.4:
        cap += " " + rng.choice(LANDSCAPE_TIMES)
    if rng.random() < 0.2:
        cap = rng.choice(STYLES) + cap
    return cap


def gen_landscape(rng):
    cap = f"{rng.choice(LANDSCAPES)} {rng.choice(LANDSCAPE_TIMES)}"
    if rng.random() < 0.4:
        cap = rng.choice(WIDE_STYLES) + cap
    return cap


GENERATORS = [(gen_person, 48), (gen_animal, 20), (gen_still, 11), (gen_object, 8),
              (gen_vehicle, 6), (gen_landscape, 7)]


def load_pair_safes():
    out = set()
    if os.path.exists(PAIRS_PATH):
        with open(PAIRS_PATH, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    out.add(json.loads(line)["safe"])
    return out


def acceptable(cap, seen, banned):
    n = len(cap.split())
    return (MIN_WORDS <= n <= MAX_WORDS and cap not in seen and cap not in banned
            and not UNSAFE_RE.search(cap))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", type=int, default=DEFAULT_TARGET)
    ap.add_argument("--out", default=OUT_PATH)
    args = ap.parse_args()

    rng = random.Random(SEED)
    banned = load_pair_safes()
    seen = {}
    for line in HANDWRITTEN.strip().splitlines():
        cap = fix_articles(line.strip())
        if acceptable(cap, seen, banned):
            seen[cap] = None
    n_hand = len(seen)
    fns = [g for g, _ in GENERATORS]
    weights = [w for _, w in GENERATORS]
    attempts = 0
    while len(seen) < args.target:
        attempts += 1
        if attempts > args.target * 200:
            raise SystemExit(f"could only build {len(seen)} captions")
        cap = fix_articles(rng.choices(fns, weights)[0](rng))
        cap = re.sub(r"\s+", " ", cap).strip()
        if acceptable(cap, seen, banned):
            seen[cap] = None
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for cap in seen:
            f.write(cap + "\n")
    print(f"wrote {len(seen)} captions ({n_hand} hand-written) to {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
