"""The words of the caption grammar: garment nouns, tone words and descriptive words, per class.

Each class has many nouns, the way people name clothes: singular and plural, American and British,
everyday and shop words, and the dataset's own label text. A noun ending in "*" is only plural ("jeans*":
"jeans", "a pair of jeans"); the others get a regular plural.

Modifiers are either true of the picture (tone words, chosen from the image's brightness) or neutral to
it (material, fit, pattern, season, occasion, details), and each descriptive word is listed only with the
classes where it is plausible. Many are shared by several classes ("leather" jackets, boots, bags), so
the model has to look at the noun to know what to draw.

A fixed fifth of the nouns and of the modifiers of each class is held out: no training caption ever
contains them, and the evaluation uses them to measure words the model never saw.
"""

from __future__ import annotations

# ----- Fashion-MNIST -----------------------------------------------------------------------------------
# Class order: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.

FASHION_NOUNS = [
    [  # T-shirt/top
        "t-shirt", "tee", "tshirt", "t shirt", "top", "tank top", "vest top", "crop top", "camisole",
        "tube top", "halter top", "sleeveless top", "short-sleeved top", "graphic tee", "undershirt",
        "muscle shirt", "baby tee", "gym top", "sports top", "workout top", "basketball jersey",
        "football jersey", "running top", "boxy tee", "summer top", "short-sleeve top", "tank",
    ],
    [  # Trouser
        "trousers*", "trouser", "pants*", "pant", "chinos*", "jeans*", "joggers*", "leggings*",
        "sweatpants*", "tracksuit bottoms*", "cargo pants*", "khakis*", "corduroys*", "flares*",
        "bell-bottoms*", "capris*", "culottes*", "palazzo pants*", "skinny jeans*", "dress pants*",
        "suit trousers*", "yoga pants*", "track pants*", "denims*", "cargo trousers*", "drainpipes*",
        "long trousers*",
    ],
    [  # Pullover
        "pullover", "sweater", "jumper", "knit", "knitted jumper", "sweatshirt", "hoodie", "crewneck",
        "crew-neck sweater", "turtleneck", "polo neck", "roll-neck", "v-neck jumper", "long-sleeved top",
        "cable-knit sweater", "fisherman sweater", "ski sweater", "christmas jumper", "woolly jumper",
        "mock neck", "thermal top", "long-sleeve top", "knit sweater", "sweat top", "wool sweater",
        "raglan sweater", "winter jumper",
    ],
    [  # Dress
        "dress", "gown", "sundress", "maxi dress", "midi dress", "mini dress", "shift dress", "slip dress",
        "wrap dress", "shirt dress", "cocktail dress", "evening gown", "ball gown", "party dress",
        "summer dress", "wedding dress", "prom dress", "bodycon dress", "a-line dress", "tea dress",
        "skater dress", "frock", "sheath dress", "day dress", "smock dress", "sleeveless dress", "bridesmaid dress",
    ],
    [  # Coat
        "coat", "jacket", "overcoat", "raincoat", "trench coat", "parka", "anorak", "puffer jacket",
        "puffer", "bomber jacket", "denim jacket", "leather jacket", "peacoat", "duffle coat",
        "windbreaker", "rain jacket", "winter coat", "down jacket", "quilted jacket", "cagoule", "mac",
        "field jacket", "biker jacket", "varsity jacket", "ski jacket", "car coat",
    ],
    [  # Sandal
        "sandal", "flip-flop", "flip flop", "slider", "slide", "strappy sandal", "gladiator sandal",
        "wedge sandal", "heeled sandal", "summer sandal", "beach sandal", "slingback",
        "open-toe shoe", "open-toed heel", "strappy heel", "platform sandal", "walking sandal",
        "sport sandal", "jelly sandal", "pool slide", "high-heeled sandal", "thong sandal", "toe-post sandal",
        "sling-back heel", "wedge", "kitten heel",
    ],
    [  # Shirt
        "shirt", "button-down shirt", "button-up shirt", "dress shirt", "collared shirt", "oxford shirt",
        "flannel shirt", "denim shirt", "linen shirt", "work shirt", "office shirt", "long-sleeved shirt",
        "blouse", "check shirt", "plaid shirt", "lumberjack shirt", "western shirt", "formal shirt",
        "smart shirt", "business shirt", "tuxedo shirt", "grandad shirt", "long-sleeve blouse",
        "peasant blouse", "shirt with buttons", "cowboy shirt", "checked shirt",
    ],
    [  # Sneaker
        "sneaker", "trainer", "running shoe", "tennis shoe", "gym shoe", "sports shoe", "athletic shoe",
        "basketball shoe", "high-top", "low-top sneaker", "skate shoe", "canvas shoe", "runner",
        "jogging shoe", "walking shoe", "casual shoe", "slip-on sneaker", "lace-up trainer", "cross-trainer",
        "training shoe", "court sneaker", "sneaks", "sport shoe", "tennis sneaker", "running trainer",
        "shoe", "football trainer",
    ],
    [  # Bag
        "bag", "handbag", "purse", "tote", "tote bag", "shoulder bag", "clutch", "clutch bag", "backpack",
        "rucksack", "messenger bag", "shopping bag", "crossbody bag", "bucket bag", "duffel bag", "holdall",
        "briefcase", "pouch", "hobo bag", "evening bag", "carrier bag", "beach bag", "school bag",
        "weekender", "laptop bag", "bowling bag", "wallet",
    ],
    [  # Ankle boot
        "ankle boot", "boot", "chelsea boot", "bootie", "combat boot", "work boot", "hiking boot",
        "desert boot", "chukka boot", "biker boot", "cowboy boot", "heeled boot", "platform boot",
        "lace-up boot", "winter boot", "snow boot", "rain boot", "wellington", "short boot", "leather boot",
        "army boot", "walking boot", "shoe boot", "zip boot", "block-heel boot", "riding boot", "dress boot",
    ],
]  # fmt: skip

# Never in a training caption: single words that no training caption contains.
FASHION_HELD_OUT_NOUNS = [
    ["cami", "bandeau", "leotard", "bustier", "racerback", "singlet", "bodysuit"],
    ["slacks*", "jeggings*", "breeches*", "jodhpurs*", "pantaloons*", "trackies*", "dungarees*"],
    ["cardigan", "guernsey", "aran", "hoody", "knitwear", "fleece", "shetland"],
    ["kaftan", "cheongsam", "chemise", "muumuu", "pinafore", "sarafan", "dirndl"],
    ["greatcoat", "duster", "mackintosh", "blouson", "windcheater", "topcoat", "blazer"],
    ["espadrille", "huarache", "birkenstock", "jandal", "zori", "stilettos*", "mule"],
    ["tunic", "henley", "guayabera", "kurta", "overshirt", "chambray", "dashiki"],
    ["plimsoll", "tennies*", "daps*", "converse*", "keds*", "kicks*", "nikes*"],
    ["knapsack", "pocketbook", "carryall", "haversack", "satchel", "reticule", "bumbag"],
    ["galoshes*", "mukluk", "ugg", "timberland", "jackboot", "wellies*", "gumboot"],
]  # fmt: skip

TOPS, TROUSERS, PULLOVER, DRESS, COAT, SANDAL, SHIRT, SNEAKER, BAG, BOOT = range(10)
UPPER = {TOPS, PULLOVER, DRESS, COAT, SHIRT}
CLOTHES = UPPER | {TROUSERS}
SHOES = {SANDAL, SNEAKER, BOOT}
EVERYTHING = set(range(10))

# Tone words, chosen from the image's own brightness (darkest third / lightest third of its class).
DARK_WORDS = ["dark", "black", "navy", "dark grey", "jet-black", "deep black", "dark-coloured", "dark navy"]
LIGHT_WORDS = ["light", "white", "cream", "pale", "off-white", "light grey", "beige", "light-coloured"]
HELD_OUT_DARK_WORDS = ["charcoal", "ebony"]
HELD_OUT_LIGHT_WORDS = ["ivory", "eggshell"]

# Words before the noun: material, fit, shape, pattern, season, occasion, style; with their classes.
FASHION_ADJECTIVES = {
    # material
    "cotton": {TOPS, TROUSERS, DRESS, SHIRT, BAG},
    "linen": {TROUSERS, DRESS, COAT, SHIRT},
    "wool": {TROUSERS, PULLOVER, COAT},
    "woollen": {PULLOVER, COAT, BOOT},
    "knitted": {PULLOVER, DRESS},
    "cashmere": {PULLOVER, COAT},
    "denim": {TROUSERS, DRESS, COAT, SHIRT, BAG},
    "leather": {TROUSERS, COAT, SANDAL, SNEAKER, BAG, BOOT},
    "suede": {COAT, SANDAL, SNEAKER, BAG, BOOT},
    "canvas": {SNEAKER, BAG},
    "silk": {TOPS, DRESS, SHIRT},
    "satin": {DRESS, SHIRT, BAG},
    "velvet": {TROUSERS, DRESS, COAT, BAG},
    "corduroy": {TROUSERS, COAT, SHIRT},
    "nylon": {COAT, SNEAKER, BAG},
    "rubber": {SANDAL, BOOT},
    "waterproof": {COAT, SNEAKER, BAG, BOOT},
    "tweed": {TROUSERS, COAT, BAG},
    "lace": {TOPS, DRESS},
    "chiffon": {DRESS, SHIRT},
    "mesh": {TOPS, SNEAKER, BAG},
    "quilted": {COAT, BAG},
    "patent leather": {SANDAL, BAG, BOOT},
    "padded": {COAT, BAG},
    "fur-lined": {COAT, BOOT},
    # fit and shape
    "slim-fit": {TOPS, TROUSERS, COAT, SHIRT},
    "skinny": {TROUSERS},
    "loose": {TOPS, TROUSERS, PULLOVER, DRESS, SHIRT},
    "baggy": {TOPS, TROUSERS, PULLOVER},
    "oversized": {TOPS, PULLOVER, COAT, SHIRT, BAG},
    "fitted": {TOPS, DRESS, COAT, SHIRT},
    "relaxed-fit": {TOPS, TROUSERS, SHIRT},
    "straight-leg": {TROUSERS},
    "wide-leg": {TROUSERS},
    "tight": {TOPS, TROUSERS, DRESS},
    "cropped": {TOPS, TROUSERS, PULLOVER, COAT},
    "long": {TROUSERS, DRESS, COAT, SHIRT},
    "short": {TOPS, DRESS, COAT},
    "high-waisted": {TROUSERS},
    "tailored": {TROUSERS, COAT, SHIRT},
    "boxy": {TOPS, PULLOVER, COAT},
    "flat": {SANDAL},
    "high-heeled": {SANDAL, BOOT},
    "chunky": {PULLOVER, SANDAL, SNEAKER, BOOT},
    "slouchy": {PULLOVER, BAG, BOOT},
    "structured": {COAT, BAG},
    "lace-up": {SANDAL, SNEAKER, BOOT},
    "slip-on": {SANDAL, SNEAKER},
    "strappy": {SANDAL, DRESS},
    "open-toe": {SANDAL},
    "ankle-length": {TROUSERS, DRESS},
    "knee-length": {DRESS, COAT},
    "sleeveless": {TOPS, DRESS},
    "short-sleeved": {TOPS, DRESS, SHIRT},
    "long-sleeved": {PULLOVER, DRESS, COAT, SHIRT},
    "hooded": {PULLOVER, COAT},
    "v-neck": {TOPS, PULLOVER, DRESS},
    "crew-neck": {TOPS, PULLOVER},
    "collared": {SHIRT, COAT},
    "button-up": {SHIRT},
    "zip-up": {PULLOVER, COAT},
    "double-breasted": {COAT},
    "flared": {TROUSERS, DRESS},
    "pleated": {TROUSERS, DRESS},
    "mid-calf": {BOOT, DRESS},
    # pattern
    "striped": {TOPS, TROUSERS, PULLOVER, DRESS, SHIRT, BAG},
    "plain": EVERYTHING,
    "checked": {TROUSERS, COAT, SHIRT},
    "plaid": {TROUSERS, COAT, SHIRT},
    "floral": {TOPS, DRESS, SHIRT, BAG},
    "polka-dot": {TOPS, DRESS, SHIRT},
    "printed": {TOPS, DRESS, SHIRT, BAG},
    "patterned": {TOPS, PULLOVER, DRESS, SHIRT, BAG},
    "graphic": {TOPS},
    "embroidered": {DRESS, SHIRT, BAG},
    "cable-knit": {PULLOVER},
    # season and occasion
    "summer": {TOPS, DRESS, SANDAL, SHIRT, BAG},
    "winter": {TROUSERS, PULLOVER, COAT, BOOT},
    "spring": {DRESS, COAT, SHIRT},
    "autumn": {PULLOVER, COAT, BOOT},
    "warm": {PULLOVER, COAT, BOOT},
    "cosy": {PULLOVER, COAT, BOOT},
    "casual": EVERYTHING,
    "formal": {TROUSERS, DRESS, COAT, SHIRT, BAG, BOOT},
    "smart": {TROUSERS, COAT, SHIRT, BOOT},
    "office": {TROUSERS, SHIRT, BAG, COAT},
    "party": {TOPS, DRESS, SANDAL, BAG},
    "evening": {DRESS, SANDAL, BAG},
    "wedding": {DRESS, SANDAL, SHIRT},
    "beach": {TOPS, DRESS, SANDAL, BAG},
    "sports": {TOPS, TROUSERS, SNEAKER, BAG},
    "running": {TOPS, TROUSERS, SNEAKER},
    "hiking": {COAT, SNEAKER, BAG, BOOT},
    "gym": {TOPS, TROUSERS, SNEAKER, BAG},
    "school": {TROUSERS, SHIRT, SNEAKER, BAG},
    "outdoor": {COAT, SNEAKER, BAG, BOOT},
    "everyday": EVERYTHING,
    "vintage": EVERYTHING,
    "classic": EVERYTHING,
    "elegant": {DRESS, COAT, SANDAL, SHIRT, BAG, BOOT},
    "comfortable": EVERYTHING,
    "designer": EVERYTHING,
    "retro": EVERYTHING,
    "trendy": EVERYTHING,
    "simple": EVERYTHING,
    "stylish": EVERYTHING,
    "basic": {TOPS, TROUSERS, PULLOVER, SHIRT},
    "new": EVERYTHING,
    "women's": EVERYTHING,
    "men's": EVERYTHING,
    "kids'": EVERYTHING,
    "unisex": EVERYTHING,
    # only in held-out captions (see FASHION_HELD_OUT_MODIFIERS)
    "secondhand": EVERYTHING,
    "handmade": EVERYTHING,
    "luxury": EVERYTHING,
    "ribbed": {TOPS, PULLOVER, DRESS},
    "sheer": {TOPS, DRESS, SHIRT},
    "breathable": {TOPS, TROUSERS, SHIRT, SNEAKER},
    "stretchy": {TOPS, TROUSERS, DRESS},
    "faded": {TOPS, TROUSERS, SHIRT, BAG},
    "distressed": {TOPS, TROUSERS},
    "sporty": {TOPS, TROUSERS, SNEAKER, BAG},
    "breezy": {TOPS, DRESS, SHIRT},
    "rugged": {COAT, BAG, BOOT},
    "cushioned": {SANDAL, SNEAKER, BOOT},
    "bulky": {PULLOVER, COAT, BAG, BOOT},
    "roomy": {TROUSERS, COAT, BAG},
    "preppy": {TROUSERS, PULLOVER, SHIRT},
}

# Phrases after the noun: details, sleeves, necklines, uses.
FASHION_PHRASES = {
    "with long sleeves": {PULLOVER, DRESS, COAT, SHIRT},
    "with short sleeves": {TOPS, DRESS, SHIRT},
    "with no sleeves": {TOPS, DRESS},
    "with a hood": {PULLOVER, COAT},
    "with a zip": {PULLOVER, COAT, BAG, BOOT, TROUSERS},
    "with pockets": {TROUSERS, COAT, SHIRT, BAG, DRESS},
    "with buttons": {COAT, SHIRT, DRESS},
    "with a collar": {SHIRT, COAT, PULLOVER},
    "with a round neck": {TOPS, PULLOVER, DRESS},
    "with a scoop neckline": {TOPS, DRESS},
    "with cuffs": {SHIRT, PULLOVER, TROUSERS},
    "with fringes": {BAG, BOOT, SANDAL},
    "with laces": {SNEAKER, BOOT},
    "with straps": {SANDAL, BAG},
    "with a buckle": {SANDAL, BOOT, BAG},
    "with a belt": {COAT, DRESS, TROUSERS},
    "with a heel": {SANDAL, BOOT},
    "with a thick sole": {SNEAKER, BOOT, SANDAL},
    "with a rubber sole": {SNEAKER, BOOT},
    "with a handle": {BAG},
    "with two handles": {BAG},
    "with a shoulder strap": {BAG},
    "with a flap": {BAG},
    "with a drawstring": {TROUSERS, BAG, PULLOVER},
    "with a logo": {TOPS, SNEAKER, BAG, PULLOVER},
    "with an elastic waist": {TROUSERS},
    "with a print": {TOPS, DRESS},
    "for the office": {TROUSERS, SHIRT, BAG, COAT},
    "for the beach": {TOPS, DRESS, SANDAL, BAG},
    "for winter": {PULLOVER, COAT, BOOT},
    "for summer": {TOPS, DRESS, SANDAL},
    "for running": {SNEAKER, TOPS, TROUSERS},
    "for a party": {DRESS, SANDAL, BAG, TOPS},
    "for a wedding": {DRESS, SHIRT},
    "for work": {TROUSERS, COAT, SHIRT, BAG, BOOT},
    "for the gym": {TOPS, TROUSERS, SNEAKER, BAG},
    "for hiking": {BOOT, BAG},
    "for rainy days": {COAT, BOOT},
    "for everyday wear": EVERYTHING,
    "for men": EVERYTHING,
    "for women": EVERYTHING,
    "for travel": {BAG, COAT, SNEAKER},
    "for the weekend": EVERYTHING,
    "with a zipper": {TROUSERS, PULLOVER, COAT, BAG, BOOT},
    "with velcro": {SANDAL, SNEAKER},
}

# Heads of a caption that describes a garment without naming it ("something warm with a hood", "casual
# footwear with laces"): the way people ask for a thing whose name they do not know, so the model learns to
# draw from the describing words alone. "*" marks a head without an article ("footwear", not "a footwear").
FASHION_DESCRIPTION_HEADS = {
    "something*": EVERYTHING,
    "item": EVERYTHING,
    "garment": CLOTHES,
    "piece of clothing": CLOTHES,
    "clothing*": CLOTHES,
    "footwear*": SHOES,
    "accessory": {BAG},
}
# "Something" is carried ("something with a handle to carry": always said) or worn ("something warm to
# wear": sometimes said).
FASHION_CARRIED = {BAG}

# Held out: never in a training caption (a fifth of each class's modifiers, or a little more).
FASHION_HELD_OUT_MODIFIERS = {
    "cashmere", "tweed", "chiffon", "velvet", "mesh", "polka-dot", "retro", "trendy", "cosy", "chunky",
    "slouchy", "flared", "pleated", "mid-calf", "satin", "fur-lined", "suede", "woollen", "embroidered",
    "double-breasted",
    "with a drawstring", "with a buckle", "with a flap", "with a scoop neckline", "for travel",
    "for rainy days", "with an elastic waist", "with cuffs", "with fringes",
    "secondhand", "handmade", "luxury", "ribbed", "sheer", "breathable", "stretchy", "faded", "distressed",
    "sporty", "breezy", "rugged", "cushioned", "bulky", "roomy", "preppy", "for the weekend", "with a zipper",
    "with velcro",
}  # fmt: skip

# ----- CIFAR-10: a plainer grammar (MNIST's digits have their own: digit_words.py) -------------------------

CIFAR_NOUNS = [
    ["airplane", "plane", "aircraft"], ["car", "automobile"], ["bird"], ["cat", "kitten"], ["deer"],
    ["dog", "puppy"], ["frog"], ["horse"], ["ship", "boat"], ["truck", "lorry"],
]  # fmt: skip
CIFAR_HELD_OUT_NOUNS = [
    ["jet", "airliner"], ["sedan", "hatchback"], ["sparrow"], ["tabby"], ["stag"], ["terrier"], ["toad"],
    ["pony", "stallion"], ["freighter", "ferry"], ["pickup", "tractor-trailer"],
]  # fmt: skip
CIFAR_ADJECTIVES = {"small": EVERYTHING, "blurry": EVERYTHING, "colourful": EVERYTHING, "tiny": EVERYTHING}
CIFAR_HELD_OUT_MODIFIERS = {"tiny"}
